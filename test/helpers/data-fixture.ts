/**
 * End-to-end fixture for the data-safety tests: the notes example app as a git repo
 * (examples/make-fixture-repo.js) in a temp folder, its own SLIPWAY_HOME, releases built
 * and deployed through the real CLI, agents started as child processes with the extra
 * environment a test needs, and small HTTP and SQLite helpers to look at the app's data
 * from outside. Every process whose working folder is inside the fixture is gone when
 * the test ends, or the test fails.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { parse, stringify } from 'yaml';
import { CLI_PATH, REPO_ROOT, runCli, testRunnerEnv, type CliResult } from './cli.js';
import { freePort } from './free-port.js';
import { killQuietly, processesUnder, startAgentProcess, waitForProcessesUnder, type AgentProcess } from './processes.js';
import { removeTree } from './temp-dir.js';

export { processesUnder };

const run = promisify(execFile);

export interface DataFixtureOptions {
  /** environments.production.health_window (default 1s) */
  healthWindow?: string;
  /** tags built into the store at once (default v1, v2) */
  build?: string[];
}

export type { AgentProcess };

export interface Note {
  id: number;
  text: string;
  createdAt: string;
  words?: number | null;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** The app of one environment, seen through slipway's proxy. */
export interface AppClient {
  port: number;
  request(method: string, urlPath: string, body?: string): Promise<HttpAnswer>;
  version(): Promise<string>;
  notes(): Promise<Note[]>;
  addNote(text: string): Promise<Note>;
  putUpload(name: string, content: string): Promise<void>;
  /** the upload's content, or null when the app answers 404 */
  upload(name: string): Promise<string | null>;
}

export interface DataFixture {
  dir: string;
  repo: string;
  home: string;
  /** `slipway <args>` in the repo, no TTY, NO_COLOR (2 min limit) */
  cli(args: string[], o?: { env?: Record<string, string> }): Promise<CliResult>;
  /** `slipway build --ref <ref> --json`; returns the release id */
  build(ref: string): Promise<string>;
  /** `slipway agent --env <environment>` with extra variables, once it listens */
  startAgent(o?: { environment?: string; env?: Record<string, string> }): Promise<AgentProcess>;
  /** everything the agents started by the fixture printed */
  agentOutput(): string;
  /** $SLIPWAY_HOME/hosts/notes/<environment> */
  hostRoot(environment?: string): string;
  /** the public port of an environment (production's comes from the fixture) */
  port(environment?: string): number;
  app(environment?: string): AppClient;
  /** rewrites the work tree's slipway.yml (environments are read from it, not from the release) */
  editProjectFile(edit: (project: ProjectFile) => void): void;
  /**
   * Checks out a new branch at `base`, writes `files` (and edits slipway.yml), commits and
   * tags it `tag`. The work tree stays on that branch, so its slipway.yml is the one the
   * CLI and the agents read.
   */
  commitVariant(o: { base: string; tag: string; files?: Record<string, string>; editProject?: (project: ProjectFile) => void }): Promise<void>;
}

/** slipway.yml as plain data (what `yaml` parses). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ProjectFile = Record<string, any>;

interface Cleanup {
  after(fn: () => void | Promise<void>): void;
}

type CreateNotesFixtureRepo = (
  dest: string,
  options: { port: number; nodePath: string; healthWindow?: string; drainTimeout?: string; healthDeadline?: string },
) => Promise<{ dir: string; tags: string[] }>;

export async function createDataFixture(t: Cleanup, options: DataFixtureOptions = {}): Promise<DataFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-data-e2e-'));
  const agents = new Set<AgentProcess>();
  t.after(async () => {
    try {
      await stopEverything(dir, agents);
    } finally {
      removeTree(dir);
    }
  });

  const repo = path.join(dir, 'repo');
  const home = path.join(dir, 'home');
  mkdirSync(home);
  const productionPort = await freePort();
  const { createNotesFixtureRepo } = (await import(pathToFileURL(path.join(REPO_ROOT, 'examples', 'make-fixture-repo.js')).href)) as {
    createNotesFixtureRepo: CreateNotesFixtureRepo;
  };
  await createNotesFixtureRepo(repo, {
    port: productionPort,
    nodePath: path.join(REPO_ROOT, 'node_modules'),
    healthWindow: options.healthWindow ?? '1s',
    drainTimeout: '1s',
    healthDeadline: '15s',
  });

  const env = childEnv(home);
  const projectFile = path.join(repo, 'slipway.yml');
  const readProject = () => parse(readFileSync(projectFile, 'utf8')) as ProjectFile;
  const editProjectFile = (edit: (project: ProjectFile) => void) => {
    const project = readProject();
    edit(project);
    writeFileSync(projectFile, stringify(project));
  };
  const git = (...args: string[]) => run('git', args, { cwd: repo, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });

  const cli = (args: string[], o: { env?: Record<string, string> } = {}) =>
    runCli(args, { cwd: repo, home, env: { SLIPWAY_WHO: 'e2e-data-test', ...o.env }, timeoutMs: 120_000 });
  const port = (environment = 'production') => {
    const value = readProject().environments?.[environment]?.port;
    if (typeof value !== 'number') throw new Error(`slipway.yml has no port for ${environment}`);
    return value;
  };

  const fixture: DataFixture = {
    dir,
    repo,
    home,
    cli,
    async build(ref) {
      const result = await cli(['build', '--ref', ref, '--json']);
      if (result.code !== 0) throw new Error(`slipway build --ref ${ref} failed (exit ${result.code}):\n${result.stderr}`);
      return (JSON.parse(result.stdout) as { id: string }).id;
    },
    async startAgent(o = {}) {
      const agent = await startAgentProcess({ cli: CLI_PATH, detached: false, cwd: repo, environment: o.environment ?? 'production', env: { ...env, ...o.env } });
      agents.add(agent);
      return agent;
    },
    agentOutput: () => [...agents].map((agent) => agent.output()).join('\n'),
    hostRoot: (environment = 'production') => path.join(home, 'hosts', 'notes', environment),
    port,
    app: (environment = 'production') => appClient(port(environment)),
    editProjectFile,
    async commitVariant(o) {
      await git('checkout', '-q', '-B', `variant-${o.tag}`, o.base);
      for (const [name, content] of Object.entries(o.files ?? {})) writeFileSync(path.join(repo, name), content);
      if (o.editProject) editProjectFile(o.editProject);
      await git('add', '-A');
      await git('commit', '-q', '-m', `notes ${o.tag}`);
      await git('tag', '-a', o.tag, '-m', `notes ${o.tag}`);
    },
  };
  for (const tag of options.build ?? ['v1', 'v2']) await fixture.build(tag);
  return fixture;
}

/** The variables a child slipway process runs with: no test-runner leftovers, no colour, its own home. */
function childEnv(home: string): Record<string, string> {
  return { ...testRunnerEnv(), SLIPWAY_HOME: home, NO_COLOR: '1', SLIPWAY_WHO: 'e2e-data-test' };
}



/**
 * Stops the agents (each stops its app), then checks that nothing started inside the
 * fixture is left: survivors are killed and reported as a failure of the test.
 */
async function stopEverything(dir: string, agents: Set<AgentProcess>): Promise<void> {
  await Promise.all([...agents].map((agent) => agent.stop()));
  // A process may take a moment to be reaped after its parent saw it exit.
  const survivors = await waitForProcessesUnder(dir, 2_000);
  for (const p of survivors) killQuietly(p.pid);
  if (survivors.length > 0) throw new Error(`processes outlived their agent: ${survivors.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
}


/** One request on a fresh connection to 127.0.0.1:port. */
export function httpRequest(o: { port: number; method: string; path: string; body?: string; timeoutMs?: number }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(o.body));
    }
    const req = http.request({ host: '127.0.0.1', port: o.port, method: o.method, path: o.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(o.timeoutMs ?? 30_000, () => req.destroy(new Error(`${o.method} ${o.path}: no answer within ${o.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

function appClient(port: number): AppClient {
  const request = (method: string, urlPath: string, body?: string) => httpRequest({ port, method, path: urlPath, body });
  const expect = async (method: string, urlPath: string, status: number, body?: string): Promise<string> => {
    const answer = await request(method, urlPath, body);
    if (answer.status !== status) throw new Error(`${method} ${urlPath} on port ${port}: expected ${status}, got ${answer.status}: ${answer.body}`);
    return answer.body;
  };
  return {
    port,
    request,
    version: () => expect('GET', '/version', 200),
    notes: async () => JSON.parse(await expect('GET', '/api/notes', 200)) as Note[],
    addNote: async (text) => JSON.parse(await expect('POST', '/api/notes', 201, JSON.stringify({ text }))) as Note,
    putUpload: async (name, content) => {
      await expect('PUT', `/uploads/${encodeURIComponent(name)}`, 201, content);
    },
    upload: async (name) => {
      const answer = await request('GET', `/uploads/${encodeURIComponent(name)}`);
      if (answer.status === 404) return null;
      if (answer.status !== 200) throw new Error(`GET /uploads/${name}: ${answer.status} ${answer.body}`);
      return answer.body;
    },
  };
}

/**
 * Posts notes one after another until stopped, recording which ones the app
 * acknowledged (201): every acknowledged write must survive whatever the update does.
 */
export function startWriter(o: { port: number; prefix: string }): { stop(): Promise<{ acknowledged: string[]; statuses: Record<number, number> }> } {
  const acknowledged: string[] = [];
  const statuses: Record<number, number> = {};
  let stopping = false;
  const loop = (async () => {
    for (let n = 0; !stopping; n++) {
      const text = `${o.prefix} ${n}`;
      const answer = await httpRequest({ port: o.port, method: 'POST', path: '/api/notes', body: JSON.stringify({ text }), timeoutMs: 120_000 }).catch(() => ({ status: 0, body: '' }));
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.status === 201) acknowledged.push(text);
      // Refused (503) or no connection: do not spin.
      else await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
      return { acknowledged, statuses };
    },
  };
}

/** Runs a read-only query against the SQLite database of the notes app on a host. */
export function querySqlite<T>(hostRoot: string, sql: string): T[] {
  const db = new Database(path.join(hostRoot, 'shared', 'data', 'notes.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** The columns of the notes table: v2's migration adds `words`. */
export function noteColumns(hostRoot: string): string[] {
  return querySqlite<{ name: string }>(hostRoot, 'SELECT name FROM pragma_table_info(\'notes\') ORDER BY cid').map((c) => c.name);
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** A readable description of a CLI run, for assertion messages. */
export function describe(result: CliResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** Parses `--json` output, failing with the whole run when it is not JSON. */
export function json<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON\n${describe(result)}`);
  }
}
