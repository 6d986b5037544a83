/**
 * Runs the databases' own tools (pg_dump, psql, mariadb-dump, mariadb…) with argument
 * arrays, streaming their stdin and stdout. Credentials travel in the environment,
 * never on the command line (where `ps` shows them to every user).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { SlipwayError } from '../errors.js';
import type { DataEnv } from './types.js';

export interface ToolSpec {
  /** tried in order: e.g. ['mariadb-dump', 'mysqldump'] */
  names: readonly string[];
  /** the Debian/Ubuntu package that installs it */
  debianPackage: string;
  /** what it is needed for, for the error message */
  purpose: string;
}

/** The absolute path of the first of `names` found on the environment's PATH, or null. */
export function findTool(names: readonly string[], env: DataEnv): string | null {
  const searchPath = env.PATH ?? process.env.PATH ?? '';
  for (const name of names) {
    for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
      const file = path.join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export function requireTool(spec: ToolSpec, env: DataEnv): string {
  const found = findTool(spec.names, env);
  if (found) return found;
  const names = spec.names.map((n) => `\`${n}\``).join(' or ');
  throw new SlipwayError('BACKUP_TOOL_MISSING', `${names} is not installed on this host (needed to ${spec.purpose}).`, {
    hint: `Install the ${spec.debianPackage} package (Debian/Ubuntu: \`apt-get install ${spec.debianPackage}\`), then try again.`,
  });
}

/**
 * The environment a tool runs in: the agent's own (locale, HOME), the PATH of the app's
 * environment, without inherited variables of that tool family (a stray PGHOST or
 * MYSQL_PWD must not redirect it), plus `extra`.
 */
export function toolEnvironment(o: { env: DataEnv; dropPrefixes: readonly string[]; extra: Record<string, string> }): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || o.dropPrefixes.some((p) => key.startsWith(p))) continue;
    out[key] = value;
  }
  const searchPath = o.env.PATH ?? process.env.PATH;
  if (searchPath !== undefined) out.PATH = searchPath;
  return { ...out, ...o.extra };
}

/** A tool exited with an error; engines turn it into a SlipwayError that says what to do. */
export class ToolExitError extends Error {
  override name = 'ToolExitError';
  constructor(
    readonly tool: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
  ) {
    super(`${path.basename(tool)} ${signal ? `was killed by ${signal}` : `exited with code ${exitCode}`}${stderr.trim() ? `: ${lastLines(stderr, 5)}` : ''}`);
  }
}

export function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

const STDERR_LIMIT = 64 * 1024;

export interface ToolRun<T> {
  file: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** writes the tool's stdin (ending it); when absent stdin is empty */
  feed?: (stdin: Writable) => Promise<void>;
  /** reads the tool's stdout; when absent stdout is collected as text (small outputs only) */
  consume?: (stdout: Readable) => Promise<T>;
}

/**
 * Runs a tool to completion. Resolves when the tool exited 0 and both stream handlers
 * finished; a handler's own failure (a full disk) wins over the tool's exit status,
 * and the tool is stopped when a handler fails.
 */
export async function runTool<T = undefined>(o: ToolRun<T>): Promise<{ result: T | undefined; stdout: string; stderr: string }> {
  const child = spawn(o.file, [...o.args], { env: o.env, stdio: [o.feed ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
    if (stderr.length > STDERR_LIMIT * 2) stderr = stderr.slice(-STDERR_LIMIT);
  });

  let handlerError: unknown;
  const fail = (error: unknown) => {
    handlerError ??= error;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', (error) => {
      child.stdout?.destroy();
      child.stdin?.destroy();
      reject(error);
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });

  let stdout = '';
  let result: T | undefined;
  const reading = o.consume
    ? o.consume(child.stdout!).then((r) => {
        result = r;
      }, fail)
    : (async () => {
        child.stdout!.setEncoding('utf8');
        for await (const chunk of child.stdout!) stdout += chunk as string;
      })().catch(fail);
  const feeding = o.feed
    ? o.feed(child.stdin!).catch((error: NodeJS.ErrnoException) => {
        // The tool closed its stdin early (it failed, or needs no more): its exit status tells why.
        if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED' || error.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
        fail(error);
      })
    : Promise.resolve();
  if (o.feed) child.stdin!.on('error', () => undefined);

  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    [exit] = await Promise.all([exited, reading, feeding]);
  } catch (error) {
    await Promise.allSettled([reading, feeding]);
    throw error;
  }
  if (handlerError !== undefined) throw handlerError;
  if (exit.code !== 0) throw new ToolExitError(o.file, exit.code, exit.signal, stderr);
  return { result, stdout, stderr };
}

/** Tool not installed (spawn ENOENT after the PATH lookup succeeded: removed meanwhile) → the same error as a missing tool. */
export function spawnFailure(spec: ToolSpec, error: unknown): SlipwayError | null {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'ENOENT' && code !== 'EACCES') return null;
  return new SlipwayError('BACKUP_TOOL_MISSING', `${spec.names[0]} could not be started (${code}).`, {
    hint: `Install the ${spec.debianPackage} package (Debian/Ubuntu: \`apt-get install ${spec.debianPackage}\`), then try again.`,
    cause: error,
  });
}
