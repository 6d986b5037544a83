/**
 * End-to-end host fixture: the notes example app as a git repo on a random free
 * port, a temp SLIPWAY_HOME, releases built through the real CLI, and helpers to
 * run the CLI, start and stop agents, read the host's state and talk HTTP to the
 * proxy. Every process it (or the CLI) starts is killed when the test ends.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CLI_PATH, REPO_ROOT, testRunnerEnv } from './cli.js';
import { freePort } from './free-port.js';
import { killProcessesUnder, processesUnder, startAgentProcess, type AgentProcess } from './processes.js';
import { waitUntil } from './wait-until.js';

export { processesUnder, waitUntil };

const run = promisify(execFile);

/** The slipway repository and its CLI (cli.ts finds them). */
export const repoRoot = REPO_ROOT;
export const slipwayBin = CLI_PATH;

export function loadBetterSqlite3(): typeof import('better-sqlite3') {
  return createRequire(path.join(repoRoot, 'package.json'))('better-sqlite3') as typeof import('better-sqlite3');
}

export interface FixtureOptions {
  /** environments.production.health_window (default '1s') */
  healthWindow?: string;
  /** environments.production.drain_timeout (default '2s') */
  drainTimeout?: string;
  /** the web service's health deadline (default '8s': v3 fails its check until then) */
  healthDeadline?: string;
  keepReleases?: number;
  /** tags to build into the store at once (default v1, v2, v3) */
  build?: string[];
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** stdout + stderr so far */
  output(): string;
  /** resolves once the output matches (rejects if the command ends first) */
  waitFor(pattern: RegExp): Promise<void>;
  result: Promise<CliResult>;
}

export type { AgentProcess };

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HostFixture {
  /** temp folder holding everything below */
  dir: string;
  repo: string;
  home: string;
  port: number;
  url: string;
  /** $SLIPWAY_HOME/hosts/notes/production */
  hostRoot: string;
  /** version → release id, for what was built */
  releases: Map<string, string>;
  env: NodeJS.ProcessEnv;
  cli(args: string[], o?: { env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult>;
  /** runs the CLI in the background, for watching its output while it works */
  spawnCli(args: string[], o?: { env?: Record<string, string> }): RunningCli;
  /** `slipway build --ref <ref> [--version v]`; records and returns the release id */
  build(ref: string, version?: string): Promise<string>;
  /** starts `slipway agent --env production` with these extra variables and waits until it listens */
  startAgent(o?: { env?: Record<string, string> }): Promise<AgentProcess>;
  /** the release id `current` points at, or null */
  currentId(): string | null;
  ledgerState(): { currentId: string | null; previousId: string | null };
  /** one request through the proxy on a fresh connection */
  request(method: string, urlPath: string, o?: { body?: string; headers?: Record<string, string>; timeoutMs?: number }): Promise<HttpAnswer>;
  get(urlPath: string): Promise<HttpAnswer>;
  /** a new host (new SLIPWAY_HOME and host root) for the same repo, store and port */
  freshHost(name: string): HostFixture;
  /** commits `server.js` on top of v3 (v2's migrations included), tags it `tag`, builds it; returns its id */
  addRelease(tag: string, serverSource: string): Promise<string>;
  /** a release whose service exits at once */
  addCrashingRelease(tag: string): Promise<string>;
}

type FixtureScript = {
  createNotesFixtureRepo(
    dest: string,
    options?: { port?: number; nodePath?: string; healthWindow?: string; drainTimeout?: string; healthDeadline?: string; keepReleases?: number },
  ): Promise<{ dir: string; tags: string[] }>;
};

/** The variables a child slipway process runs with: no test-runner or test-hook leftovers, no colour. */
function childEnv(home: string): NodeJS.ProcessEnv {
  return { ...testRunnerEnv(), SLIPWAY_HOME: home, NO_COLOR: '1', SLIPWAY_WHO: 'e2e-test' };
}

/** Where the teardown goes: a node:test TestContext, or a bench's own list. */
export interface TeardownRegistry {
  after(fn: () => Promise<void>): void;
}

/**
 * Makes the fixture and registers its teardown on `t`: every process whose working
 * folder is inside the fixture is killed, then the folder is removed. The teardown
 * fails the test when a process survives.
 */
export async function createHostFixture(t: TeardownRegistry, options: FixtureOptions = {}): Promise<HostFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-e2e-'));
  const agents = new Set<AgentProcess>();
  t.after(async () => {
    await teardown(dir, agents);
  });
  const port = await freePort();
  const script = (await import(pathToFileURL(path.join(repoRoot, 'examples', 'make-fixture-repo.js')).href)) as FixtureScript;
  const repo = path.join(dir, 'repo');
  await script.createNotesFixtureRepo(repo, {
    port,
    nodePath: path.join(repoRoot, 'node_modules'),
    healthWindow: options.healthWindow ?? '1s',
    drainTimeout: options.drainTimeout ?? '2s',
    healthDeadline: options.healthDeadline ?? '8s',
    keepReleases: options.keepReleases,
  });
  const fixture = makeHost({ dir, repo, home: path.join(dir, 'home'), port, releases: new Map(), agents });
  for (const tag of options.build ?? ['v1', 'v2', 'v3']) await fixture.build(tag);
  return fixture;
}

function makeHost(o: { dir: string; repo: string; home: string; port: number; releases: Map<string, string>; agents: Set<AgentProcess> }): HostFixture {
  const { dir, repo, home, port, releases, agents } = o;
  mkdirSync(home, { recursive: true });
  const env = childEnv(home);
  const hostRoot = path.join(home, 'hosts', 'notes', 'production');

  const spawnCli = (args: string[], extra: { env?: Record<string, string> } = {}): RunningCli => {
    const child = spawn(process.execPath, [slipwayBin, ...args], { cwd: repo, env: { ...env, ...extra.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const watchers = new Set<() => void>();
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      for (const w of [...watchers]) w();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const w of [...watchers]) w();
    });
    const result = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    const output = () => stdout + stderr;
    return {
      child,
      output,
      result,
      waitFor: (pattern) =>
        new Promise((resolve, reject) => {
          const check = () => {
            if (pattern.test(output())) {
              watchers.delete(check);
              resolve();
            }
          };
          watchers.add(check);
          check();
          void result.then(() => {
            if (watchers.has(check)) {
              watchers.delete(check);
              reject(new Error(`slipway ${args.join(' ')} ended before printing ${pattern}:\n${output()}`));
            }
          });
        }),
    };
  };

  const cli = async (args: string[], extra: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> => {
    const running = spawnCli(args, extra);
    const timer = setTimeout(() => running.child.kill('SIGKILL'), extra.timeoutMs ?? 120_000);
    try {
      return await running.result;
    } finally {
      clearTimeout(timer);
    }
  };

  const host: HostFixture = {
    dir,
    repo,
    home,
    port,
    url: `http://127.0.0.1:${port}`,
    hostRoot,
    releases,
    env,
    cli,
    spawnCli,
    async build(ref, version) {
      const result = await cli(['build', '--ref', ref, ...(version ? ['--version', version] : []), '--json']);
      if (result.code !== 0) throw new Error(`slipway build --ref ${ref} failed (${result.code}):\n${result.stderr}`);
      const built = JSON.parse(result.stdout) as { id: string; version: string };
      releases.set(built.version, built.id);
      return built.id;
    },
    async startAgent(extra = {}) {
      return startAgentProcess({ cli: slipwayBin, cwd: repo, environment: 'production', env: { ...env, ...extra.env }, onStart: (agent) => agents.add(agent) });
    },
    currentId() {
      try {
        return path.basename(readlinkSync(path.join(hostRoot, 'current')));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    ledgerState() {
      // Read with SQLite itself, not slipway's ledger module: an independent look at what the agent wrote.
      const db = new (loadBetterSqlite3())(path.join(hostRoot, 'ledger.db'), { readonly: true, fileMustExist: true });
      try {
        const rows = db.prepare(`SELECT key, value FROM host_state WHERE key IN ('current_id', 'previous_id')`).all() as { key: string; value: string | null }[];
        const value = (key: string) => rows.find((r) => r.key === key)?.value ?? null;
        return { currentId: value('current_id'), previousId: value('previous_id') };
      } finally {
        db.close();
      }
    },
    request: (method, urlPath, extra = {}) => httpRequest({ port, method, path: urlPath, ...extra }),
    get: (urlPath) => httpRequest({ port, method: 'GET', path: urlPath }),
    freshHost(name) {
      const newHome = path.join(dir, `home-${name}`);
      mkdirSync(newHome, { recursive: true });
      // The same releases: the store is shared, the host state is new.
      symlinkSync(path.join(home, 'store'), path.join(newHome, 'store'));
      return makeHost({ dir, repo, home: newHome, port, releases, agents });
    },
    async addRelease(tag, serverSource) {
      const git = (args: string[]) => run('git', args, { cwd: repo });
      await git(['checkout', '-q', '-B', `release-${tag}`, 'v3']);
      writeFileSync(path.join(repo, 'server.js'), serverSource);
      await git(['commit', '-q', '-am', `notes ${tag}`]);
      await git(['tag', '-a', tag, '-m', `notes ${tag}`]);
      await git(['checkout', '-q', 'main']);
      return host.build(tag);
    },
    addCrashingRelease(tag) {
      return host.addRelease(
        tag,
        `// notes ${tag}: exits at once, on purpose (a release that cannot start)\nconsole.error('notes ${tag}: cannot start: missing setting NOTES_REQUIRED_SETTING');\nprocess.exit(1);\n`,
      );
    },
  };
  return host;
}

function httpRequest(o: { port: number; method: string; path: string; body?: string; headers?: Record<string, string>; timeoutMs?: number }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(o.body));
    }
    const req = http.request({ host: '127.0.0.1', port: o.port, method: o.method, path: o.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error(`${o.method} ${o.path}: no answer within ${o.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}



async function teardown(dir: string, agents: Set<AgentProcess>): Promise<void> {
  // Agents first, so none restarts an app process while the rest is being killed.
  for (const agent of agents) {
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGKILL');
  }
  await Promise.all([...agents].map((a) => a.exited));
  const survivors = await killProcessesUnder(dir);
  // Releases are read-only on disk; make them writable so the folder can go.
  await run('chmod', ['-R', 'u+w', dir]).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  if (survivors.length > 0) throw new Error(`processes survived the teardown: ${survivors.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
}

/** The columns of the notes app's `notes` table on a host: v2's migration adds `words`. */
export function appNoteColumns(hostRoot: string): string[] {
  const db = new (loadBetterSqlite3())(path.join(hostRoot, 'shared', 'data', 'notes.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('PRAGMA table_info(notes)').all() as { name: string }[]).map((c) => c.name);
  } finally {
    db.close();
  }
}

/** Makes a file of a read-only release writable (as an operator editing a server by hand would). */
export function makeWritable(file: string): void {
  chmodSync(path.dirname(file), 0o755);
  chmodSync(file, 0o644);
}
