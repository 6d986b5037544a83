/**
 * The agent's management API over HTTP (off unless environments.<env>.management
 * is set). Every /v1 call must be signed with the shared secret
 * (management-auth.ts); the dashboard page at / is public, and it signs its own
 * calls in the browser. Bad requests get a 4xx and never stop the agent.
 */
import http from 'node:http';
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import { printable } from '../util/terminal-text.js';
import { createNonceCache, openNonceFile, verifyRequest } from './management-auth.js';
import { createLogLimiter } from './log-limiter.js';
import { dashboardAsset } from './dashboard.js';
import { toWireError, type WireError } from './wire.js';
import { MANAGEMENT_ROUTES, callName, describeIssues } from './api.js';

export interface ManagementHandlers {
  /** check the channel now; should answer quickly (not wait for a deployment) */
  notify(): Promise<unknown>;
  status(): Promise<unknown>;
  /** to: a version or id (absent: the previous release); reason: for the record */
  rollback(body: { to?: string; reason?: string }): Promise<unknown>;
  history(): Promise<unknown>;
  backups?(): Promise<unknown>;
  logTail(lines: number): Promise<string[]>;
}

export interface ManagementServerOptions {
  bind: string;
  /** 0 picks a free port */
  port: number;
  secret: string;
  /** the agent's environment and host name: requests signed for another are refused */
  environment: string;
  host: string;
  /** where used nonces are kept across restarts (0600); absent: in memory only */
  nonceFile?: string;
  handlers: ManagementHandlers;
  log(line: string): void;
  /** shown in the dashboard's title, e.g. "notes / production" */
  title?: string;
  /** per client address; default 20 requests a second, bursts of 40 */
  rateLimit?: { perSecond: number; burst: number };
  /** default 64 KiB */
  maxBodyBytes?: number;
  /** refused requests logged one by one per window (default 20 a minute); past that, one line says how many more */
  refusedLog?: { lines: number; windowMs: number };
}

export interface ManagementServer {
  port: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** Past this, an oversized body is not even read to the end: the connection is cut. */
const DRAIN_LIMIT_BYTES = 1024 * 1024;
const MAX_LOG_LINES = 1000;

/** One call: its body checked by its schema (api.ts), then handled. */
interface Route {
  auth: boolean;
  accept(body: unknown, url: URL): { ok: true; run(): Promise<unknown> } | { ok: false; problems: string[] };
}

function route<S extends z.ZodType>(spec: { request: S }, handle: (body: z.output<S>, url: URL) => Promise<unknown>): Route {
  return {
    auth: true,
    accept(body, url) {
      const parsed = spec.request.safeParse(body);
      if (!parsed.success) return { ok: false, problems: describeIssues(parsed.error) };
      return { ok: true, run: () => handle(parsed.data, url) };
    },
  };
}

export async function startManagementServer(options: ManagementServerOptions): Promise<ManagementServer> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limiter = createRateLimiter(options.rateLimit ?? { perSecond: 20, burst: 40 });
  const nonces = options.nonceFile ? openNonceFile(options.nonceFile) : createNonceCache();
  // A flood of bad requests must not flood the agent's log.
  const logRefused = createLogLimiter({ log: options.log, ...(options.refusedLog ?? { lines: 20, windowMs: 60_000 }), what: 'refused requests' });
  const { handlers } = options;
  const api = MANAGEMENT_ROUTES;

  const routes = new Map<string, Route>([
    [callName(api.notify), route(api.notify, async () => (await handlers.notify()) ?? {})],
    [callName(api.status), route(api.status, () => handlers.status())],
    [
      callName(api.rollback),
      // An empty or null `to` is the previous release, as an absent one.
      route(api.rollback, ({ to, reason }) => handlers.rollback({ ...(typeof to === 'string' && to !== '' ? { to } : {}), ...(reason === undefined ? {} : { reason }) })),
    ],
    [callName(api.history), route(api.history, () => handlers.history())],
    [
      callName(api.logs),
      route(api.logs, async (_body, url) => {
        const asked = Number(url.searchParams.get('lines') ?? 100);
        const lines = Number.isFinite(asked) ? Math.min(MAX_LOG_LINES, Math.max(1, Math.floor(asked))) : 100;
        return { lines: await handlers.logTail(lines) };
      }),
    ],
  ]);
  if (handlers.backups) {
    const backups = handlers.backups;
    routes.set(callName(api.backups), route(api.backups, () => backups()));
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error) => {
      options.log(`management: internal error: ${(error as Error).message}`);
      if (!res.headersSent) send(res, 500, errorBody('INTERNAL', 'the agent hit an unexpected error'));
      else res.destroy();
    });
  });
  // Slow or broken clients must not hold the agent's sockets.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const client = req.socket.remoteAddress ?? 'unknown';
    if (!limiter.take(client)) {
      logRefused(`management: refused a request from ${client}: rate limited`);
      res.setHeader('retry-after', '1');
      send(res, 429, errorBody('RATE_LIMITED', 'too many requests; slow down'));
      return;
    }
    const target = req.url ?? '/';
    let url: URL;
    try {
      // A target starting `//` is origin-form to HTTP but scheme-relative to URL, which would read
      // `//x/v1/status` as host `x` and path `/v1/status`: refuse it rather than route it.
      if (target.startsWith('//')) throw new Error('scheme-relative target');
      url = new URL(target, 'http://agent');
    } catch {
      // `//`, `http://[`…: Node's HTTP parser lets such targets through, URL does not
      send(res, 400, errorBody('BAD_REQUEST', 'the request target is not a valid URL'));
      return;
    }
    const method = req.method ?? 'GET';

    if (method === 'GET' || method === 'HEAD') {
      const asset = dashboardAsset(url.pathname, { title: options.title, environment: options.environment, host: options.host });
      if (asset) {
        res.writeHead(200, { 'content-type': asset.type, 'content-length': Buffer.byteLength(asset.body), ...asset.headers, ...SECURITY_HEADERS });
        res.end(method === 'HEAD' ? undefined : asset.body);
        return;
      }
    }
    const route = routes.get(`${method} ${url.pathname}`);
    if (!route) {
      const known = [...routes.keys()].some((key) => key.endsWith(` ${url.pathname}`));
      send(res, known ? 405 : 404, errorBody(known ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND', `no such call: ${method} ${url.pathname}`));
      return;
    }

    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > DRAIN_LIMIT_BYTES) {
      res.setHeader('connection', 'close');
      send(res, 413, errorBody('BODY_TOO_LARGE', `request bodies are limited to ${maxBodyBytes} bytes`));
      return;
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === 'too-large') {
      res.setHeader('connection', 'close');
      send(res, 413, errorBody('BODY_TOO_LARGE', `request bodies are limited to ${maxBodyBytes} bytes`));
      return;
    }
    if (body === 'aborted') return;

    if (route.auth) {
      const verdict = verifyRequest({ secret: options.secret, method, path: target, headers: req.headers, body, nonces, environment: options.environment, host: options.host });
      if (!verdict.ok) {
        logRefused(`management: refused ${method} ${printable(url.pathname)} from ${client}: ${verdict.reason}`);
        send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'the request is not signed with the management secret', hint: 'sign it as `slipway notify` does; check the secret and this machine\'s clock', details: [], exitCode: 1 }, reason: verdict.reason });
        return;
      }
    }

    let parsed: unknown = {};
    if (body.length > 0) {
      let value: unknown;
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch {
        send(res, 400, errorBody('BAD_JSON', 'the request body is not valid JSON'));
        return;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        send(res, 400, errorBody('BAD_JSON', 'the request body must be a JSON object'));
        return;
      }
      parsed = value;
    }
    const accepted = route.accept(parsed, url);
    if (!accepted.ok) {
      send(res, 400, errorBody('BAD_REQUEST', `bad request to ${method} ${url.pathname}: ${accepted.problems[0]}; nothing was done`, accepted.problems.slice(1)));
      return;
    }

    if (method !== 'GET') options.log(`management: ${method} ${url.pathname} from ${client}`);
    try {
      send(res, 200, await accepted.run());
    } catch (error) {
      const status = error instanceof SlipwayError && error.exitCode === 2 ? 400 : 500;
      send(res, status, { error: toWireError(error) });
    }
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new SlipwayError('MANAGEMENT_PORT_IN_USE', `the management API cannot listen on ${options.bind}:${options.port} (${error.code ?? error.message})`, {
          hint: error.code === 'EADDRINUSE' ? 'another program uses that port: change management.port in slipway.yml' : 'check management.bind and management.port in slipway.yml',
          cause: error,
        }),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.bind, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => options.log(`management: server error: ${error.message}`));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).finally(() => {
        logRefused.flush();
        nonces.close?.();
      });
      return closing;
    },
  };
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

function send(res: http.ServerResponse, status: number, json: unknown): void {
  const text = JSON.stringify(json ?? {});
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...SECURITY_HEADERS });
  res.end(text);
}

function errorBody(code: string, message: string, details: string[] = []): { error: WireError } {
  return { error: { code, message, details, exitCode: 2 } };
}

/** The whole body up to `limit` bytes; past it the rest is read and dropped (up to a bound), so the client gets its 413. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (value: Buffer | 'too-large' | 'aborted') => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > DRAIN_LIMIT_BYTES) {
        req.pause();
        finish('too-large');
      }
    });
    req.on('end', () => finish(size > limit ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', () => finish('aborted'));
    req.on('close', () => finish(req.complete ? (size > limit ? 'too-large' : Buffer.concat(chunks)) : 'aborted'));
  });
}

/** A token bucket per client address. Idle buckets are dropped once they have refilled. */
function createRateLimiter(options: { perSecond: number; burst: number }): { take(client: string): boolean } {
  const buckets = new Map<string, { tokens: number; at: number }>();
  let lastSweep = Date.now();
  return {
    take(client) {
      const now = Date.now();
      if (now - lastSweep > 60_000) {
        lastSweep = now;
        for (const [key, bucket] of buckets) {
          if (bucket.tokens + ((now - bucket.at) / 1000) * options.perSecond >= options.burst) buckets.delete(key);
        }
      }
      const bucket = buckets.get(client) ?? { tokens: options.burst, at: now };
      bucket.tokens = Math.min(options.burst, bucket.tokens + ((now - bucket.at) / 1000) * options.perSecond);
      bucket.at = now;
      buckets.set(client, bucket);
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
