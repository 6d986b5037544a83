import http from 'node:http';
import { promises as fs } from 'node:fs';
import { SlipwayError } from '../errors.js';
import { AGENT_CALLS, AGENT_ROUTE_NAMES, badRequest, callName, type AgentHandlers, type AgentRouteName, type UpdateEvent } from './api.js';
import { toWireError } from './wire.js';
import { controlSocketPath } from '../paths.js';
import { preparePrivateSocketFolder } from './socket-trust.js';

/**
 * The agent's control API on a unix socket (mode 0600: only the owner may talk
 * to it), in a folder only the agent's user may write to (socket-trust.ts). JSON in, JSON out; long operations stream NDJSON events and end with
 * a `{ "type": "result" }` line. Every body is parsed with its call's schema
 * (api.ts) first: one it refuses gets a 400 and nothing runs.
 */
interface BoundRoute {
  kind: 'json' | 'stream';
  /** the parsed body, ready to run; or why the body was refused */
  accept(body: unknown): { ok: true; run(emit: (event: UpdateEvent) => void): Promise<unknown> } | { ok: false; error: SlipwayError };
}

const MAX_BODY_BYTES = 1024 * 1024;

function bindRoute<K extends AgentRouteName>(name: K, handlers: AgentHandlers): BoundRoute {
  const spec = AGENT_CALLS[name];
  const handle = handlers[name];
  return {
    kind: spec.kind,
    accept(body) {
      const parsed = spec.request.safeParse(body);
      if (!parsed.success) return { ok: false, error: badRequest(callName(spec), parsed.error) };
      return { ok: true, run: (emit) => handle(parsed.data, emit) };
    },
  };
}

export async function startControlServer(layoutSocketPath: string, handlers: AgentHandlers): Promise<{ socketPath: string; close(): Promise<void> }> {
  const socketPath = controlSocketPath(layoutSocketPath);
  const routes = new Map<string, BoundRoute>(AGENT_ROUTE_NAMES.map((name) => [callName(AGENT_CALLS[name]), bindRoute(name, handlers)]));
  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const route = routes.get(`${req.method} ${new URL(req.url ?? '/', 'http://agent').pathname}`);
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: toWireError(new SlipwayError('AGENT_NO_ROUTE', `no such call: ${req.method} ${req.url}`, { hint: 'the CLI and the agent may be different versions: restart the agent' })) }));
      return;
    }
    let body: unknown = {};
    try {
      body = await readJsonBody(req);
    } catch (error) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: toWireError(error) }));
      return;
    }
    const accepted = route.accept(body);
    if (!accepted.ok) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: toWireError(accepted.error) }));
      return;
    }
    if (route.kind === 'json') {
      try {
        const result = await accepted.run(() => undefined);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result ?? {}));
      } catch (error) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: toWireError(error) }));
      }
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    // A CLI that goes away (killed, Ctrl-C) must not stop the update: the agent owns it.
    const emit = (event: unknown) => {
      if (!res.destroyed && res.writable) res.write(`${JSON.stringify(event)}\n`);
    };
    try {
      const result = await accepted.run(emit);
      emit({ type: 'result', ...(result as object) });
    } catch (error) {
      emit({ type: 'result', ok: false, error: toWireError(error) });
    }
    if (!res.destroyed) res.end();
  }

  await preparePrivateSocketFolder(socketPath);
  await fs.rm(socketPath, { force: true });
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  await fs.chmod(socketPath, 0o600);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new SlipwayError('AGENT_BODY_TOO_LARGE', 'request body over 1 MiB', { exitCode: 2 });
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new SlipwayError('AGENT_BAD_JSON', 'request body is not valid JSON', { exitCode: 2, hint: 'nothing was changed' });
  }
}
