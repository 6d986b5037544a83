/**
 * End-to-end helpers: run the built CLI (`node bin/slipway.js …`) as a user or a CI
 * script would, in an isolated sandbox (its own SLIPWAY_HOME and TMPDIR), with no
 * TTY on stdin, NO_COLOR=1 and a timeout.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from './free-port.js';
import { removeTree, tempDir, type AfterHook } from './temp-dir.js';

// Their homes are free-port.ts and temp-dir.ts; re-exported for the importers of this module.
export { freePort, removeTree, tempDir };

export interface CliResult {
  /** exit code; null only when the process was killed by a signal */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  cwd: string;
  /** SLIPWAY_HOME of the run */
  home: string;
  /** TMPDIR of the run (default: the machine's) */
  tmp?: string;
  /** extra variables; undefined removes one */
  env?: Record<string, string | undefined>;
  /** default 30 s; the run is killed and the test fails past it */
  timeoutMs?: number;
  /** sees stderr as it comes (to act at a given moment of a long command) */
  onStderr?: (chunk: string) => void;
  /** what is written to stdin before it is closed (default: nothing) */
  input?: string | Buffer;
}

/** The repository root: the nearest folder upwards whose package.json is named slipway. */
export const REPO_ROOT = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
export const CLI_PATH = path.join(REPO_ROOT, 'bin', 'slipway.js');

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'slipway') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`no package.json named slipway above ${start}`);
  }
}

/** Variables of the test runner's environment that would leak into the run and change its behaviour. */
const SCRUBBED_ENV = /^(SLIPWAY_|FORCE_COLOR$|NO_COLOR$|GIT_DIR$|GIT_WORK_TREE$|GIT_INDEX_FILE$|NODE_OPTIONS$|NODE_TEST_CONTEXT$)/;

/** The test runner's variables minus those that would leak into a child slipway process and change its behaviour. */
export function testRunnerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !SCRUBBED_ENV.test(name)) env[name] = value;
  }
  return env;
}

export function runCli(args: string[], options: RunCliOptions): Promise<CliResult> {
  const env = testRunnerEnv();
  env.SLIPWAY_HOME = options.home;
  env.NO_COLOR = '1';
  if (options.tmp) env.TMPDIR = options.tmp;
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    // stdin is a pipe closed at once (after `input`): not a TTY, and a question would read EOF instead of hanging.
    const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined); // a command that does not read stdin may exit before taking it
    child.stdin.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onStderr?.(chunk);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`slipway ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Sandbox {
  root: string;
  /** SLIPWAY_HOME */
  home: string;
  /** TMPDIR of every run: what a command leaves in it is a leak */
  tmp: string;
  run(args: string[], options?: Partial<RunCliOptions>): Promise<CliResult>;
}

/** A temp root with home/ and tmp/, and a runner bound to them (cwd defaults to the root). */
export function makeSandbox(t: AfterHook): Sandbox {
  const root = tempDir(t, 'slipway-e2e-');
  const home = path.join(root, 'home');
  const tmp = path.join(root, 'tmp');
  fs.mkdirSync(home);
  fs.mkdirSync(tmp);
  return {
    root,
    home,
    tmp,
    run: (args, options = {}) => runCli(args, { cwd: root, home, tmp, ...options }),
  };
}

/** Every path under dir (relative, sorted, folders marked with a trailing /): compare before/after. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string, prefix: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) {
        out.push(`${rel}/`);
        walk(path.join(at, entry.name), rel);
      } else {
        out.push(rel);
      }
    }
  };
  walk(dir, '');
  return out.sort();
}

type CreateNotesFixtureRepo = (dest: string, options?: { port?: number; nodePath?: string }) => Promise<{ dir: string; tags: string[] }>;

/** The notes example app as a git repository with tags v1, v2, v3 (examples/make-fixture-repo.js) at dest. */
export async function createNotesRepo(dest: string, options: { port?: number } = {}): Promise<string> {
  const url = pathToFileURL(path.join(REPO_ROOT, 'examples', 'make-fixture-repo.js')).href;
  const fixture = (await import(url)) as { createNotesFixtureRepo: CreateNotesFixtureRepo };
  const { dir } = await fixture.createNotesFixtureRepo(dest, { port: options.port ?? (await freePort()) });
  return dir;
}

/** git in dir, with the fixture's local identity; returns stdout. */
export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
}

/** Commits every change in dir and returns the new commit id. */
export function commitAll(dir: string, message: string): string {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', message);
  return git(dir, 'rev-parse', 'HEAD').trim();
}

/** Parses a run's stdout as JSON, failing with the whole output when it is not. */
export function parseJsonOutput<T = unknown>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code})\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** A readable description of a run, for assertion messages. */
export function describeRun(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}
