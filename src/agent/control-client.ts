import http from 'node:http';
import { z } from 'zod';
import { spawn } from 'node:child_process';
import { openSync, closeSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlipwayError } from '../errors.js';
import { createLineSplitter } from '../util/line-splitter.js';
import type { HostLayout } from '../host/layout.js';
import { tailLines } from '../runtime/supervisor.js';
import { fromWireError, WireErrorSchema } from './wire.js';
import { controlSocketPath } from '../paths.js';
import { assertTrustedSocket } from './socket-trust.js';
import {
  AGENT_CALLS,
  UpdateEventSchema,
  badAnswer,
  callName,
  type AgentRequest,
  type AgentResponse,
  type AgentRouteName,
  type JsonRouteName,
  type StreamRouteName,
  type UpdateEvent,
} from './api.js';

/** Talks to a host's agent over its unix socket: the calls of AGENT_ROUTES (api.ts), answers checked against their schemas. */
export interface AgentClient {
  socketPath: string;
  call<K extends JsonRouteName>(route: K, ...body: BodyArgument<K>): Promise<AgentResponse<K>>;
  /** a streamed call (an update): every event goes to onEvent, the final `result` line is returned */
  stream<K extends StreamRouteName>(route: K, body: AgentRequest<K>, onEvent: (event: UpdateEvent) => void): Promise<AgentResponse<K>>;
}

/** The body may be left out when the call takes none, or only optional fields. */
type BodyArgument<K extends AgentRouteName> = {} extends AgentRequest<K> ? [body?: AgentRequest<K>] : [body: AgentRequest<K>];

/**
 * A client of the agent whose layout names `layoutSocketPath`. Before every call it checks
 * that the socket and its folder are this user's and closed to others (socket-trust.ts):
 * whatever listens elsewhere is never talked to.
 */
export function agentClient(layoutSocketPath: string): AgentClient {
  const socketPath = controlSocketPath(layoutSocketPath);
  return {
    socketPath,
    call: async (route, ...[body]) => {
      await assertTrustedSocket(socketPath);
      return new Promise((resolve, reject) => {
        const spec = AGENT_CALLS[route];
        const req = http.request({ socketPath, method: spec.method, path: spec.path, headers: { 'content-type': 'application/json' } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              return reject(new SlipwayError('AGENT_BAD_ANSWER', 'the agent sent an answer that is not JSON', { hint: 'restart the agent' }));
            }
            if (res.statusCode !== 200) return reject(errorAnswer(parsed, res.statusCode));
            const answer = spec.response.safeParse(parsed);
            if (!answer.success) return reject(badAnswer(callName(spec), answer.error));
            resolve(answer.data);
          });
        });
        req.on('error', (error) => reject(agentUnreachable(socketPath, error)));
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    },
    stream: async (route, body, onEvent) => {
      await assertTrustedSocket(socketPath);
      return new Promise((resolve, reject) => {
        const spec = AGENT_CALLS[route];
        const req = http.request({ socketPath, method: spec.method, path: spec.path, headers: { 'content-type': 'application/json' } }, (res) => {
          if (res.statusCode !== 200) {
            // Refused before anything ran (a bad body, an unknown call): one JSON error, not a stream.
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              let parsed: unknown = null;
              try {
                parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              } catch {
                // reported by its status below
              }
              reject(errorAnswer(parsed, res.statusCode));
            });
            return;
          }
          const reader = streamAnswerReader(route, onEvent);
          res.on('data', (chunk: Buffer) => reader.push(chunk));
          res.on('end', () => {
            try {
              resolve(reader.end());
            } catch (error) {
              reject(error);
            }
          });
          res.on('error', () => reject(agentDied('the connection to the agent broke before the operation finished')));
        });
        req.on('error', (error) => reject(agentUnreachable(socketPath, error)));
        req.end(JSON.stringify(body));
      });
    },
  };
}

/** The agent went away in the middle of an operation: the next agent start recovers the host. */
export function agentDied(what: string): SlipwayError {
  return new SlipwayError('AGENT_DIED', what, { hint: 'the next agent start recovers the host to a complete release: run `slipway status <env>`' });
}

/**
 * Reads a streamed answer (an update): every known event to onEvent, the final `result` line
 * checked against the call's schema. `end()` gives that result, or throws what explains its absence.
 * Shared by `stream` and the rollback bin/slipway.js sends before the CLI loads.
 */
export function streamAnswerReader<K extends StreamRouteName>(route: K, onEvent: (event: UpdateEvent) => void): { push(chunk: Buffer): void; end(): AgentResponse<K> } {
  const spec = AGENT_CALLS[route];
  let result: AgentResponse<K> | undefined;
  let problem: SlipwayError | undefined;
  // A result line carries a whole answer: it is never cut into pieces (no answer comes near this size).
  const lines = createLineSplitter(
    (line) => {
      if (!line.trim()) return;
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        problem ??= new SlipwayError('AGENT_BAD_ANSWER', 'the agent sent a line that is not JSON', { hint: 'restart the agent' });
        return;
      }
      if (isResultLine(event)) {
        const answer = spec.response.safeParse(event);
        if (answer.success) result = answer.data as AgentResponse<K>;
        else problem = badAnswer(callName(spec), answer.error);
        return;
      }
      // An event this CLI does not know (a newer agent) is not shown.
      const known = UpdateEventSchema.safeParse(event);
      if (known.success) onEvent(known.data);
    },
    { maxLineLength: 256 * 1024 * 1024 },
  );
  return {
    push: (chunk) => lines.push(chunk),
    end: () => {
      lines.end();
      if (result) return result;
      throw problem ?? agentDied('the agent stopped before the operation finished');
    },
  };
}

function isResultLine(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'type' in event && event.type === 'result';
}

/** The error an agent answered with (`{ "error": WireError }`), or one saying what status it answered. */
export function errorAnswer(parsed: unknown, status: number | undefined): SlipwayError {
  const answer = z.object({ error: WireErrorSchema }).safeParse(parsed);
  return answer.success ? fromWireError(answer.data.error) : new SlipwayError('AGENT_ERROR', `agent answered ${status}`);
}

export function agentUnreachable(socketPath: string, error: Error): SlipwayError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED' || code === 'ENOENT') {
    return new SlipwayError('AGENT_NOT_RUNNING', 'the slipway agent of this environment is not running', {
      hint: 'start it with `slipway agent --env <env>` (or let `slipway deploy` start it)',
    });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new SlipwayError('AGENT_DIED', 'the connection to the agent broke before the operation finished', { hint: 'run `slipway status <env>` to see what the host serves' });
  }
  return new SlipwayError('AGENT_UNREACHABLE', `cannot talk to the agent at ${socketPath}: ${error.message}`, { hint: 'check the permissions of the socket; it belongs to the user who started the agent' });
}

export async function isAgentRunning(socketPath: string): Promise<boolean> {
  try {
    await agentClient(socketPath).call('status');
    return true;
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'AGENT_NOT_RUNNING') return false;
    // It answers, in a shape this CLI does not know: another version, running all the same.
    if (error instanceof SlipwayError && error.code === 'AGENT_BAD_ANSWER') return true;
    throw error;
  }
}

/**
 * Starts `slipway agent` in the background for a local environment when none
 * runs, and waits until it answers. Its output goes to logs/agent.log.
 */
export async function ensureLocalAgent(o: { layout: HostLayout; environment: string; configFile: string; cwd: string; timeoutMs?: number }): Promise<{ started: boolean }> {
  if (await isAgentRunning(o.layout.agentSocket)) return { started: false };
  await fs.mkdir(o.layout.logsDir, { recursive: true });
  const logFile = path.join(o.layout.logsDir, 'agent.log');
  const bin = fileURLToPath(new URL('../../../bin/slipway.js', import.meta.url));
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [bin, 'agent', '--env', o.environment, '--config', o.configFile], {
    cwd: o.cwd,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: process.env,
  });
  closeSync(fd);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (exited !== null) break;
    if (await isAgentRunning(o.layout.agentSocket)) return { started: true };
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = await tailLines(logFile, 10).catch(() => [] as string[]);
  throw new SlipwayError('AGENT_START_FAILED', exited !== null ? `the agent exited at start (code ${exited})` : 'the agent did not answer in time', {
    details: tail.map((l) => `  ${l}`),
    hint: `its log: ${logFile}; run \`slipway agent --env ${o.environment}\` in the foreground to see why`,
  });
}
