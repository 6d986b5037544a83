/**
 * The early send of `slipway rollback <env> --yes` (issue 12): a warm rollback is a proxy
 * switch at the agent, so what the user waits for is mostly the CLI loading. bin/slipway.js
 * loads this module (node built-ins only) before the rest of the CLI; when everything the full
 * path would work out from slipway.yml is in a fresh cache, it sends the very request the full
 * path sends at once, then the CLI loads as always and `rollback` (rollback.ts) reads the
 * agent's answer instead of sending one: the same output, exit codes and messages.
 *
 * The cache is written by the full path once it has loaded and checked slipway.yml for a
 * local environment. It names the agent's socket, and holds everything that socket was worked
 * out from: the folder, the file's path and text, the environment, SLIPWAY_HOME, the home
 * and temp folders, the user, this slipway's version. Any difference, a missing, unreadable or
 * foreign cache, an untrusted socket, no agent listening: nothing is sent here, the full path
 * runs as if this module did not exist. Once a request is on its way nothing falls back: the
 * agent decides (warm or cold, every check of its own) and its answer is reported as is.
 */
import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { assertTrustedSocket } from '../agent/socket-trust.js';
import { slipwayHome } from '../paths.js';
import type { CliContext } from './context.js';
import { whoAmI } from './who.js';

/**
 * node:http through process.getBuiltinModule where there is one (Node ≥ 20.16): an `import`
 * builds its ESM face, which runs every lazy getter it has. (node:crypto is not loaded at all:
 * it costs more than the rest of this module; the cache holds slipway.yml's text instead of a digest.)
 */
function http(): typeof Http {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return (get ? get('node:http') : createRequire(import.meta.url)('node:http')) as typeof Http;
}

/** A short name for a cache file (FNV-1a, twice): the file itself says whose it is. */
function shortName(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** Bump when the cache's meaning changes: older files are then ignored. */
const CACHE_FORMAT = 1;
/** AGENT_ROUTES.rollback (api.ts), written out so that zod need not load first; a test keeps them equal. */
export const ROLLBACK_CALL = { method: 'POST', path: '/v1/rollback' } as const;
const WRITABLE_BY_OTHERS = 0o022;

/** What the early send understands: `rollback <env> --yes` with --to and --reason at most. */
export interface FastRollbackArgs {
  env: string;
  to?: string;
  reason?: string;
}

/**
 * The arguments after `rollback`, when they are surely `<env> (-y|--yes) [--to <v>] [--reason <text>]`
 * and nothing else; null whenever anything else is there (the full path then parses them).
 * Without --yes the full path asks, or refuses without a terminal: nothing to win here.
 */
export function parseFastRollbackArgs(args: readonly string[]): FastRollbackArgs | null {
  let env: string | undefined;
  let to: string | undefined;
  let reason: string | undefined;
  let yes = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-y' || arg === '--yes') {
      yes = true;
    } else if (arg === '--to' || arg === '--reason') {
      const value = args[i + 1];
      if (value === undefined || value === '' || value.startsWith('-')) return null;
      if (arg === '--to') {
        if (to !== undefined) return null;
        to = value;
      } else {
        if (reason !== undefined) return null;
        reason = value;
      }
      i++;
    } else if (arg.startsWith('-') || arg === '' || env !== undefined) {
      return null;
    } else {
      env = arg;
    }
  }
  if (!yes || env === undefined) return null;
  return { env, ...(to === undefined ? {} : { to }), ...(reason === undefined ? {} : { reason }) };
}

/** Everything the agent's socket path is worked out from, besides slipway.yml's content. */
interface CacheKey {
  format: number;
  slipway: string;
  cwd: string;
  configFile: string;
  /** slipway.yml as the full path read and checked it (it holds no secrets: they are refused there) */
  configText: string;
  environment: string;
  slipwayHomeVariable: string | null;
  homedir: string;
  tmpdir: string;
  uid: number | null;
}

interface CacheEntry extends CacheKey {
  socketPath: string;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return String(pkg.version);
}

function cacheKey(o: { cwd: string; environment: string; env: NodeJS.ProcessEnv; configFile: string; configText: string }): CacheKey {
  return {
    format: CACHE_FORMAT,
    slipway: packageVersion(),
    cwd: o.cwd,
    configFile: o.configFile,
    configText: o.configText,
    environment: o.environment,
    slipwayHomeVariable: o.env.SLIPWAY_HOME ?? null,
    homedir: os.homedir(),
    tmpdir: os.tmpdir(),
    uid: process.getuid?.() ?? null,
  };
}

/** $SLIPWAY_HOME/cli-cache/rollback-<short name of folder and environment>.json */
export function fastRollbackCacheFile(o: { cwd: string; environment: string; env: NodeJS.ProcessEnv }): string {
  return path.join(slipwayHome(o.env), 'cli-cache', `rollback-${shortName(`${o.cwd}\0${o.environment}`)}.json`);
}

/** Only a file of this user's, in a folder of this user's, that no one else may write, is believed. */
function isPrivate(file: string, what: 'file' | 'dir'): boolean {
  const stat = lstatSync(file);
  const uid = process.getuid?.();
  if (what === 'file' ? !stat.isFile() : !stat.isDirectory()) return false;
  return (uid === undefined || stat.uid === uid) && (stat.mode & WRITABLE_BY_OTHERS) === 0;
}

/**
 * Remembers, for the full path, the socket of a local environment's agent (`socketPath`, as the
 * control client uses it) for this folder, slipway.yml's content and environment. Best effort:
 * a cache that cannot be written only means the next rollback takes the full path.
 */
export function rememberAgentSocket(o: { cwd: string; environment: string; env: NodeJS.ProcessEnv; configFile: string; socketPath: string }): void {
  try {
    const file = fastRollbackCacheFile(o);
    // Only slipway.yml in the folder itself is what the early send reads (no --config).
    if (o.configFile !== path.join(o.cwd, 'slipway.yml')) return;
    const entry: CacheEntry = { ...cacheKey({ ...o, configText: readFileSync(o.configFile, 'utf8') }), socketPath: o.socketPath };
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    if (!isPrivate(path.dirname(file), 'dir')) return;
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // best effort, see above
  }
}

/** The socket the cache names, when every input it was worked out from is the same now; else null. */
export function cachedAgentSocket(o: { cwd: string; environment: string; env: NodeJS.ProcessEnv }): string | null {
  try {
    const file = fastRollbackCacheFile(o);
    if (!isPrivate(path.dirname(file), 'dir') || !isPrivate(file, 'file')) return null;
    const entry = JSON.parse(readFileSync(file, 'utf8')) as Partial<CacheEntry>;
    const configFile = path.join(o.cwd, 'slipway.yml');
    const now = cacheKey({ ...o, configFile, configText: readFileSync(configFile, 'utf8') });
    for (const [field, value] of Object.entries(now)) if (entry[field as keyof CacheKey] !== value) return null;
    return typeof entry.socketPath === 'string' && path.isAbsolute(entry.socketPath) ? entry.socketPath : null;
  } catch {
    return null;
  }
}

/** The agent's answer as it comes, kept until rollback.ts reads it (the rest of the CLI loads meanwhile). */
export interface SentRollback {
  args: FastRollbackArgs;
  socketPath: string;
  /** performance.now() when the request went: the "— 1.2 s" the command prints counts from here */
  startedMs: number;
  /**
   * Resolves with the answer's status, or `unreached` when the connection was refused or the
   * socket is gone (nothing reached an agent: the full path may run), or the connection's error.
   */
  answer: Promise<{ statusCode: number; body: BufferedBody } | { unreached: true } | { error: Error }>;
}

/** A response body read at once and replayed to whoever reads it later. */
export interface BufferedBody {
  /** `endedMs`: performance.now() when the last byte came (not when it was read) */
  read(onChunk: (chunk: Buffer) => void, onEnd: (endedMs: number) => void, onError: (error: Error) => void): void;
}

/** `whenOver` is called once the body has ended or failed. */
function bufferBody(res: Http.IncomingMessage, whenOver: () => void): BufferedBody {
  const chunks: Buffer[] = [];
  let endedMs: number | null = null;
  let failed: Error | null = null;
  let reader: { onChunk: (chunk: Buffer) => void; onEnd: (endedMs: number) => void; onError: (error: Error) => void } | null = null;
  res.on('data', (chunk: Buffer) => (reader ? reader.onChunk(chunk) : chunks.push(chunk)));
  res.on('end', () => {
    whenOver();
    if (reader) reader.onEnd(performance.now());
    else endedMs = performance.now();
  });
  res.on('error', (error) => {
    whenOver();
    if (reader) reader.onError(error);
    else failed = error;
  });
  return {
    read(onChunk, onEnd, onError) {
      for (const chunk of chunks.splice(0)) onChunk(chunk);
      if (failed) onError(failed);
      else if (endedMs !== null) onEnd(endedMs);
      else reader = { onChunk, onEnd, onError };
    },
  };
}

/**
 * Where the rollback sent early waits for rollback.ts. On globalThis, not in this module: the
 * early send loads from a file of its own (scripts/bundle-cli.js), one module instead of the
 * handful of shared chunks, and the CLI's copy of this module must still find what it sent.
 */
const SENT = Symbol.for('slipway.rollback-fast.sent');
const slot = globalThis as { [SENT]?: SentRollback | null };

/**
 * A warm rollback is answered within this; until then the rest of the CLI waits, so that loading it
 * does not take the CPU from the agent's switch. A longer one (a cold start) shows its steps as they come.
 */
const QUIET_WHILE_SWITCHING_MS = 300;

/**
 * Sends `rollback` to the agent when `argv` (after `rollback`) is the plain case and the cache is
 * fresh; resolves once the agent has answered, or QUIET_WHILE_SWITCHING_MS after the request was
 * written, or at once when nothing was sent. Never throws.
 */
export async function sendEarly(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  try {
    const parsed = parseFastRollbackArgs(args);
    if (!parsed) return;
    const socketPath = cachedAgentSocket({ cwd: path.resolve(cwd), environment: parsed.env, env });
    if (!socketPath) return;
    // An untrusted socket: the full path says so, in its words.
    await assertTrustedSocket(socketPath);
    // whoAmI reads nothing but the variables.
    const who = whoAmI({ env } as CliContext);
    // As rollback.ts builds it (JSON leaves out a missing `to`).
    const body = JSON.stringify({ to: parsed.to, withData: false, who, reason: parsed.reason ?? `rollback${parsed.to ? ` to ${parsed.to}` : ''}` });
    const startedMs = performance.now();
    await new Promise<void>((done) => {
      const req = http().request({ socketPath, method: ROLLBACK_CALL.method, path: ROLLBACK_CALL.path, headers: { 'content-type': 'application/json' } });
      const answer = new Promise<Awaited<SentRollback['answer']>>((resolve) => {
        req.on('response', (res) => {
          const body = bufferBody(res, done);
          resolve({ statusCode: res.statusCode ?? 0, body });
        });
        req.on('error', (error: NodeJS.ErrnoException) => {
          done();
          resolve(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? { unreached: true } : { error });
        });
      });
      slot[SENT] = { args: parsed, socketPath, startedMs, answer };
      req.on('finish', () => setTimeout(done, QUIET_WHILE_SWITCHING_MS).unref());
      req.end(body);
    });
  } catch {
    // nothing sent: the full path runs
  }
}

/** The rollback sent early, once: rollback.ts takes it instead of sending one. */
export function takeSentRollback(): SentRollback | null {
  const taken = slot[SENT] ?? null;
  slot[SENT] = null;
  return taken;
}
