// Test helpers for running the notes example app as a real process: export a
// tagged version from the fixture repo, run its migration, start and stop it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';

const run = promisify(execFile);

/** The slipway repository (cli.ts finds it). */
export const repoRoot = REPO_ROOT;
export const repoNodeModules = path.join(repoRoot, 'node_modules');

export interface FixtureRepo {
  dir: string;
  tags: string[];
}

/** Loads examples/make-fixture-repo.js (plain JS, not compiled into dist/). */
export async function loadFixtureScript(): Promise<{
  createNotesFixtureRepo(dest: string, options?: { port?: number; nodePath?: string }): Promise<FixtureRepo>;
}> {
  return import(pathToFileURL(path.join(repoRoot, 'examples', 'make-fixture-repo.js')).href);
}

/** better-sqlite3 compiles during `npm install`; wait until its binary exists. */
export async function waitForBetterSqlite3(timeoutMs = 10 * 60_000): Promise<void> {
  const binary = path.join(repoNodeModules, 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(binary)) {
    if (Date.now() > deadline) throw new Error(`${binary} still missing after ${timeoutMs} ms: did npm install fail?`);
    await sleep(2000);
  }
}

export type BetterSqlite3 = typeof import('better-sqlite3');

/** better-sqlite3, loaded only once it is built. */
export function loadBetterSqlite3(): BetterSqlite3 {
  return createRequire(path.join(repoRoot, 'package.json'))('better-sqlite3') as BetterSqlite3;
}

/**
 * The node_modules folder that provides `pg`, or an explanation of why none does.
 * Usually the repo's own; NODE_PATH of the test run may point elsewhere.
 */
export function findPgNodeModules(): { dir: string } | { missing: string } {
  try {
    const manifest = createRequire(path.join(repoRoot, 'package.json')).resolve('pg/package.json');
    return { dir: path.dirname(path.dirname(manifest)) };
  } catch (err) {
    return { missing: (err as Error).message.split('\n')[0] };
  }
}

/**
 * Extracts `tag` of the fixture repo into `<root>/releases/<tag>` and links its
 * data/ and uploads/ to `<root>/shared/`, the way slipway lays out a release.
 */
export async function exportRelease(options: { repo: string; tag: string; root: string }): Promise<string> {
  const { repo, tag, root } = options;
  const releaseDir = path.join(root, 'releases', tag);
  mkdirSync(releaseDir, { recursive: true });
  const archive = path.join(root, `${tag}.tar`);
  await run('git', ['archive', '--format=tar', `--output=${archive}`, tag], { cwd: repo });
  await run('tar', ['-xf', archive, '-C', releaseDir]);
  for (const folder of ['data', 'uploads']) {
    const shared = path.join(root, 'shared', folder);
    mkdirSync(shared, { recursive: true });
    symlinkSync(shared, path.join(releaseDir, folder));
  }
  return releaseDir;
}

export function newTempRoot(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Environment for the app: ours minus anything that would change its behaviour, plus `extra`. */
export function appEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['PORT', 'DATABASE_URL', 'NOTES_FAIL_MIGRATION', 'NODE_PATH', 'NODE_OPTIONS']) delete env[name];
  return { ...env, NODE_PATH: repoNodeModules, ...extra };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <script>` in `cwd` to completion; never throws for a non-zero exit. */
export function runNode(cwd: string, script: string, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

export interface AppProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the app printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once the app printed a line matching `pattern`; rejects if it exits first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<AppProcess>();

/** Starts `node server.js` in `cwd` on a free port. */
export async function startApp(cwd: string, env: NodeJS.ProcessEnv): Promise<AppProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['server.js'], {
    cwd,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let hasExited = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      hasExited = true;
      running.delete(app);
      for (const listener of listeners) listener();
      resolve({ code, signal });
    });
  });

  const app: AppProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => output,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) finish();
          else if (hasExited) finish(new Error(`app exited before printing ${pattern}; output:\n${output}`));
        };
        const timer = setTimeout(() => finish(new Error(`no ${pattern} in the app's output after ${timeoutMs} ms:\n${output}`)), timeoutMs);
        const finish = (err?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (!hasExited) child.kill(signal);
      return exited;
    },
  };
  running.add(app);
  return app;
}

/** For t.after / after(): kills every app a test left running. */
export async function killRunningApps(): Promise<void> {
  await Promise.all([...running].map((app) => app.stop('SIGKILL')));
}

/** Polls GET /healthz until it answers 200; fails with the app's output if it exits or never does. */
export async function waitForHealthy(app: AppProcess, timeoutMs = 30_000): Promise<unknown> {
  let last = 'no answer yet';
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (app.child.exitCode !== null || app.child.signalCode !== null) break;
    try {
      const res = await fetch(`${app.url}/healthz`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status === 200) return JSON.parse(body);
      last = `${res.status} ${body}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`app at ${app.url} never became healthy (last: ${last}); output:\n${app.output()}`);
}

/** Waits until the app says it is listening (healthy or not). */
export async function waitForListening(app: AppProcess, timeoutMs = 30_000): Promise<void> {
  await app.waitForOutput(/listening on http:\/\/127\.0\.0\.1:\d+/, timeoutMs);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
