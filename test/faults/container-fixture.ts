/**
 * The container columns of the fault matrix: a small notes app whose web service is a
 * container (built FROM the test node base image), deployed v1 → v2 through the real CLI
 * and agent, v2's migration (a one-off container) rewriting its data file. The agent talks
 * to the engine through a socket proxy the test can cut (DOCKER_HOST), so the engine is
 * unreachable for this agent alone. Both images are built once per file; each case gets a
 * fresh host on the same store, app and port (cases run one after another).
 *
 * After each case the invariant of fault-case.ts holds, plus the containers': running with
 * this app's labels is the serving release's container and nothing else (standby is off),
 * and no one-off command container is left.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { PipelineStepName } from '../../src/config/types.js';
import { CLI_PATH, testRunnerEnv } from '../helpers/cli.js';
import { startDockerSocketProxy, type DockerSocketProxy } from '../helpers/docker-socket-proxy.js';
import { ensureNodeBaseImage, removeContainersOf } from '../helpers/docker.js';
import { freePort } from '../helpers/free-port.js';
import { removeImagesOf } from '../helpers/image-repo.js';
import { heldLock, latestUpdateTo } from '../helpers/ledger-reads.js';
import { killProcessesUnder, startAgentProcess, type AgentProcess } from '../helpers/processes.js';
import { waitUntil } from '../helpers/wait-until.js';

const run = promisify(execFile);

export type Schema = 'v1' | 'v2';

/**
 * The app: notes in data/notes.json (the release's data folder, bind-mounted). v2 counts
 * words: its migration adds `words` to every note and sets schema 2; each version answers
 * /healthz only on data of its own schema. v2 also obeys flag files the tests drop in the
 * data folder: crash.flag (exits, at start or within 100 ms while it runs).
 */
function appSource(version: Schema): string {
  const schema = version === 'v1' ? 1 : 2;
  return `const http = require('node:http');
const fs = require('node:fs');
const VERSION = '${version}';
const FILE = 'data/notes.json';
const load = () => { try { return JSON.parse(fs.readFileSync(FILE, 'utf8')); } catch (e) { if (e.code === 'ENOENT') return { schema: 1, notes: [] }; throw e; } };
const save = (db) => { fs.writeFileSync(FILE + '.tmp', JSON.stringify(db)); fs.renameSync(FILE + '.tmp', FILE); };
const crashCheck = () => {
  if (VERSION === 'v2' && fs.existsSync('data/crash.flag')) {
    console.error('notes v2: data/crash.flag is set: exiting (fault injected by the test)');
    process.exit(3);
  }
};
crashCheck();
setInterval(crashCheck, 100);
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    const db = load();
    res.statusCode = db.schema === ${schema} ? 200 : 500;
    return res.end(db.schema === ${schema} ? 'ok' : 'data has schema ' + db.schema);
  }
  if (req.url === '/version') return res.end(VERSION);
  if (req.url === '/api/notes' && req.method === 'GET') return res.end(JSON.stringify(load().notes));
  if (req.url === '/api/notes' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => (body += c));
    return req.on('end', () => {
      const db = load();
      const text = JSON.parse(body).text;
      db.notes.push(${version === 'v1' ? '{ text }' : "{ text, words: text.split(/\\s+/).length }"});
      save(db);
      res.statusCode = 201;
      res.end('{}');
    });
  }
  res.statusCode = 404;
  res.end();
});
server.keepAliveTimeout = 1000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('notes ' + VERSION + ' listening on ' + process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
}

const MIGRATE = {
  v1: `// v1's data needs nothing: schema 1 is what the app starts from\nconsole.log('notes v1: nothing to migrate');\n`,
  v2: `const fs = require('node:fs');
const FILE = 'data/notes.json';
let db = { schema: 1, notes: [] };
try { db = JSON.parse(fs.readFileSync(FILE, 'utf8')); } catch (e) { if (e.code !== 'ENOENT') throw e; }
if (db.schema === 1) {
  db = { schema: 2, notes: db.notes.map((n) => ({ ...n, words: n.text.split(/\\s+/).length })) };
  fs.writeFileSync(FILE + '.tmp', JSON.stringify(db));
  fs.renameSync(FILE + '.tmp', FILE);
}
console.log('notes v2: data at schema 2');
`,
};

const DOCKERFILE = 'FROM slipway-test/node-base:1\nCOPY app.js migrate.js /app/\nCMD ["/usr/bin/node", "/app/app.js"]\n';

function slipwayYml(app: string, port: number, healthWindow: string): string {
  return `app: ${app}
services:
  web:
    build: .
    port_env: PORT
    health: { path: /healthz, interval: 100ms, timeout: 1s, successes: 1, deadline: 5s }
data:
  folders: [data]
migrate:
  command: node /app/migrate.js
  reversible: false
environments:
  production:
    host: local
    port: ${port}
    health_window: ${healthWindow}
    drain_timeout: 300ms
    standby: off
`;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  output(): string;
  result: Promise<CliResult>;
  kill(): void;
}

export interface ContainerHost {
  app: string;
  home: string;
  hostRoot: string;
  port: number;
  releases: Map<string, string>;
  proxy: DockerSocketProxy;
  cli(args: string[]): Promise<CliResult>;
  spawnCli(args: string[]): RunningCli;
  /** an agent reaching the engine through the proxy */
  startAgent(env?: Record<string, string>): Promise<AgentProcess>;
  currentId(): string | null;
  request(method: string, urlPath: string, body?: string): Promise<{ status: number; body: string }>;
  /** the schema of the data file on the host */
  schema(): Schema;
  /** the containers of this app and environment: running, or every one */
  containers(o?: { all?: boolean }): { id: string; name: string; release: string; role: string; running: boolean }[];
}

export interface ContainerFixture {
  app: string;
  dir: string;
  /** a new host on the shared store; `copyStore`: on a copy of it of its own (to take things out of) */
  freshHost(name: string, o?: { copyStore?: boolean }): ContainerHost;
}

/** Takes an object out of a store's pack indexes (the pack keeps its bytes, nothing finds them): the store no longer has it. */
export function dropFromStore(storeDir: string, sha256: string): number {
  let dropped = 0;
  for (const entry of readdirSync(storeDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.idx')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const index = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as { objects: [string, ...number[]][] };
    const kept = index.objects.filter(([digest]) => digest !== sha256);
    dropped += index.objects.length - kept.length;
    writeFileSync(file, gzipSync(JSON.stringify({ ...index, objects: kept })));
  }
  return dropped;
}

export interface ContainerFixtureOptions {
  /**
   * The engine to build, deploy and look on, as DOCKER_HOST names it (unix://…; the base image
   * already in it). Default: the machine's engine.
   */
  dockerHost?: string;
  /** the environment's health window (default 1s) */
  healthWindow?: string;
}

/** Builds v1 and v2 of the container notes app into a store; everything goes when the test ends. */
export async function createContainerFixture(t: TestContext, o: ContainerFixtureOptions = {}): Promise<ContainerFixture> {
  ensureNodeBaseImage();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-cfault-'));
  const app = `cfault-${randomBytes(3).toString('hex')}`;
  const port = await freePort();
  const dockerHost = o.dockerHost;
  const proxy = await startDockerSocketProxy({ path: path.join(dir, 'docker.sock'), ...(dockerHost === undefined ? {} : { target: dockerHost.replace(/^unix:\/\//, '') }) });
  const agents = new Set<AgentProcess>();
  t.after(async () => {
    for (const agent of agents) await agent.stop();
    await killProcessesUnder(dir);
    await proxy.close();
    removeContainersOf(app);
    removeImagesOf(app);
    spawnSync('chmod', ['-R', 'u+w', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const repo = path.join(dir, 'repo');
  mkdirSync(repo);
  const git = (...args: string[]) => run('git', args, { cwd: repo });
  await git('init', '-q', '-b', 'main');
  for (const [key, value] of [['user.name', 'Fault Fixture'], ['user.email', 'faults@example.invalid'], ['commit.gpgsign', 'false'], ['tag.gpgsign', 'false']]) await git('config', key, value!);
  for (const version of ['v1', 'v2'] as const) {
    writeFileSync(path.join(repo, 'Dockerfile'), DOCKERFILE);
    writeFileSync(path.join(repo, 'app.js'), appSource(version));
    writeFileSync(path.join(repo, 'migrate.js'), MIGRATE[version]);
    writeFileSync(path.join(repo, 'slipway.yml'), slipwayYml(app, port, o.healthWindow ?? '1s'));
    await git('add', '-A');
    await git('commit', '-q', '-m', `notes ${version}`);
    await git('tag', '-a', version, '-m', `notes ${version}`);
  }
  const home = path.join(dir, 'home');
  const releases = new Map<string, string>();
  const builder = makeHost({ dir, repo, home, app, port, proxy, releases, agents, dockerHost });
  for (const version of ['v1', 'v2']) {
    const built = await builder.cli(['build', '--ref', version, '--json']);
    assert.equal(built.code, 0, `slipway build --ref ${version}:\n${built.stderr}`);
    releases.set(version, (JSON.parse(built.stdout) as { id: string }).id);
  }
  return {
    app,
    dir,
    freshHost(name, { copyStore = false } = {}) {
      const newHome = path.join(dir, `home-${name}`);
      mkdirSync(newHome, { recursive: true });
      if (copyStore) cpSync(path.join(home, 'store'), path.join(newHome, 'store'), { recursive: true });
      else symlinkSync(path.join(home, 'store'), path.join(newHome, 'store'));
      return makeHost({ dir, repo, home: newHome, app, port, proxy, releases, agents, dockerHost });
    },
  };
}

function makeHost(o: { dir: string; repo: string; home: string; app: string; port: number; proxy: DockerSocketProxy; releases: Map<string, string>; agents: Set<AgentProcess>; dockerHost: string | undefined }): ContainerHost {
  mkdirSync(o.home, { recursive: true });
  // The CLI (build, verify) talks to the fixture's engine directly; the agent, through the proxy.
  const engineEnv = o.dockerHost === undefined ? {} : { DOCKER_HOST: o.dockerHost };
  const env = { ...testRunnerEnv(), ...engineEnv, SLIPWAY_HOME: o.home, NO_COLOR: '1', SLIPWAY_WHO: 'fault-test' };
  const hostRoot = path.join(o.home, 'hosts', o.app, 'production');
  const spawnCli = (args: string[]): RunningCli => {
    const child = execFile(process.execPath, [CLI_PATH, ...args], { cwd: o.repo, env, maxBuffer: 64 * 1024 * 1024 });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: string) => (stdout += c));
    child.stderr!.on('data', (c: string) => (stderr += c));
    const result = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    return { output: () => stdout + stderr, result, kill: () => child.kill('SIGKILL') };
  };
  return {
    app: o.app,
    home: o.home,
    hostRoot,
    port: o.port,
    releases: o.releases,
    proxy: o.proxy,
    spawnCli,
    cli: (args) => spawnCli(args).result,
    startAgent: (extra = {}) =>
      startAgentProcess({ cli: CLI_PATH, cwd: o.repo, environment: 'production', env: { ...env, DOCKER_HOST: `unix://${o.proxy.path}`, ...extra }, onStart: (a) => o.agents.add(a) }),
    currentId() {
      try {
        return path.basename(readlinkSync(path.join(hostRoot, 'current')));
      } catch {
        return null;
      }
    },
    async request(method, urlPath, body) {
      const answer = await fetch(`http://127.0.0.1:${o.port}${urlPath}`, { method, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }), signal: AbortSignal.timeout(10_000) });
      return { status: answer.status, body: await answer.text() };
    },
    schema() {
      const file = path.join(hostRoot, 'shared', 'data', 'notes.json');
      if (!existsSync(file)) return 'v1';
      return (JSON.parse(readFileSync(file, 'utf8')) as { schema: number }).schema === 2 ? 'v2' : 'v1';
    },
    containers({ all = false } = {}) {
      const out = spawnSync('docker', ['ps', ...(all ? ['-a'] : []), '--no-trunc', '--filter', `label=dev.slipway.app=${o.app}`, '--filter', 'label=dev.slipway.environment=production', '--format', '{{json .}}'], { encoding: 'utf8', env: { ...process.env, ...engineEnv } });
      return out.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const c = JSON.parse(line) as { ID: string; Names: string; Labels: string; State: string };
          const labels = Object.fromEntries(c.Labels.split(',').map((kv) => kv.split('=', 2) as [string, string]));
          return { id: c.ID, name: c.Names, release: labels['dev.slipway.release'] ?? '', role: labels['dev.slipway.role'] ?? '', running: c.State === 'running' };
        });
    },
  };
}

/** The pause hook armed, and a 3 s wait for an engine that is away (slipway's own: ENGINE_WAIT_MS, 30 s) to keep the cases short. */
const HOOK_ENV = (step: string, when: 'before' | 'after', dir: string) => ({
  SLIPWAY_TEST_HOOKS: '1',
  SLIPWAY_TEST_PAUSE_AT: `${when}:${step}`,
  SLIPWAY_TEST_PAUSE_DIR: dir,
  SLIPWAY_TEST_ENGINE_WAIT_MS: '3000',
});
const UPDATE_LIMIT_MS = 90_000;

export interface ContainerCase {
  step: PipelineStepName;
  host: ContainerHost;
  agent: AgentProcess;
  deploy: RunningCli;
  /** the next update passes the armed pause hook without stopping */
  letPass(): void;
}

export interface ContainerFaultSpec {
  /** the update pauses for the fault before the step's work, or after it */
  when: 'before' | 'after';
  /** more environment for the case's agent (e.g. a longer engine wait) */
  agentEnv?: Record<string, string>;
  /** while the update is paused at the step (it goes on once this resolves) */
  inject(c: ContainerCase): Promise<void>;
  /** the fault goes away: once the update has ended (or a step failed, with liftOnFailure) */
  lift?(c: ContainerCase): Promise<void>;
  liftOnFailure?: boolean;
  /** more checks once the invariant holds */
  more?(c: ContainerCase & { deployResult: CliResult; result: CaseResult }): Promise<void>;
}

export interface CaseResult {
  served: Schema;
  outcome: 'succeeded' | 'rolled-back';
  failedStep: string | null;
}

/** One case: v1 deployed, the update to v2 paused at `step`, the fault injected, the update resumed, the fault lifted, the invariant checked. */
export async function runContainerCase(fx: ContainerFixture, spec: ContainerFaultSpec, step: PipelineStepName, label: string): Promise<CaseResult> {
  const host = fx.freshHost(`${label}-${step}`);
  const pauseDir = path.join(host.home, 'pause');
  mkdirSync(pauseDir);
  const at = (what: string) => `[${label} at ${step}] ${what}`;
  await host.proxy.restore();
  const agent = await host.startAgent({ ...HOOK_ENV(step, spec.when, pauseDir), ...spec.agentEnv });
  try {
    const resume = path.join(pauseDir, `${step}.resume`);
    writeFileSync(resume, '');
    const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
    assert.equal(v1.code, 0, at(`deploy v1:\n${v1.stdout}${v1.stderr}\nagent:\n${agent.output()}`));
    assert.equal(existsSync(resume), false, at('the v1 update passed the pause hook'));
    const notesBefore = [`before the update, ${step} #1`, `before the update, ${step} #2`];
    for (const text of notesBefore) {
      const written = await host.request('POST', '/api/notes', JSON.stringify({ text }));
      assert.equal(written.status, 201, at(`v1 takes a note: ${written.body}`));
    }

    const deploy = host.spawnCli(['deploy', 'production', '--version', 'v2', '--yes']);
    const c: ContainerCase = { step, host, agent, deploy, letPass: () => writeFileSync(resume, '') };
    let ended = false;
    void deploy.result.then(() => (ended = true));
    const paused = path.join(pauseDir, `${step}.paused`);
    await waitUntil(at('the update to pause'), () => existsSync(paused) || ended, 60_000);
    assert.ok(existsSync(paused), at(`the update never reached ${step}:\n${deploy.output()}\nagent:\n${agent.output()}`));
    await spec.inject(c);
    writeFileSync(resume, '');
    if (spec.liftOnFailure) {
      await waitUntil(at('a step to fail or the update to end'), () => /✗ \w+/.test(deploy.output()) || ended, UPDATE_LIMIT_MS);
      await spec.lift?.(c);
    }
    const limit = setTimeout(() => deploy.kill(), UPDATE_LIMIT_MS);
    const deployResult = await deploy.result;
    clearTimeout(limit);
    if (!spec.liftOnFailure) await spec.lift?.(c);
    await host.proxy.restore();
    const context = () => `deploy v2 (${deployResult.code}):\n${deployResult.stdout}${deployResult.stderr}\nagent:\n${agent.output()}`;
    assert.ok(deployResult.code !== null, at(`the update did not end within ${UPDATE_LIMIT_MS} ms:\n${context()}`));
    assert.ok(agent.child.exitCode === null && agent.child.signalCode === null, at(`the agent died:\n${context()}`));
    const result = await assertContainerInvariant(host, notesBefore, (what) => `${at(what)}\n${context()}`);
    assert.equal(deployResult.code === 0, result.outcome === 'succeeded', at(`deploy v2 exits ${deployResult.code} for an update that ${result.outcome}:\n${context()}`));
    if (process.env.SLIPWAY_FAULTS_VERBOSE) process.stderr.write(`--- ${at('')}\n${context()}\n`);
    await spec.more?.({ ...c, deployResult, result });

    await agent.stop();
    assert.deepEqual(host.containers().map((x) => x.name), [], at('no container of the app runs once its agent stopped'));
    return result;
  } finally {
    await agent.stop();
    await host.proxy.restore();
  }
}

/** A complete release answers with data of its own schema, the ledger agrees, and its container is the only one running. */
export async function assertContainerInvariant(host: ContainerHost, notesBefore: string[], at: (what: string) => string): Promise<CaseResult> {
  let healthz = await host.request('GET', '/healthz').catch(() => ({ status: 0, body: '' }));
  if (healthz.status !== 200) {
    await waitUntil('/healthz to answer 200', async () => (healthz = await host.request('GET', '/healthz').catch(() => healthz)).status === 200, 15_000).catch(() => undefined);
  }
  assert.equal(healthz.status, 200, at(`/healthz: ${healthz.status} ${healthz.body}`));
  const currentId = host.currentId();
  assert.ok(currentId, at('current points at a release'));
  const currentVersion = [...host.releases].find(([, id]) => id === currentId)?.[0];
  const served = (await host.request('GET', '/version')).body;
  assert.equal(served, currentVersion, at('the proxy serves the release current points at'));
  assert.ok(served === 'v1' || served === 'v2', at(`serves v1 or v2, not ${served}`));

  const verify = await host.cli(['verify', 'production', '--json']);
  assert.equal(verify.code, 0, at(`slipway verify: ${verify.stdout}${verify.stderr}`));
  assert.equal(heldLock(host.hostRoot), null, at('no lock is held'));
  const update = latestUpdateTo(host.hostRoot, 'v2');
  assert.ok(update?.finishedAt, at(`the update to v2 is finished: ${JSON.stringify(update)}`));
  assert.ok(update.outcome === 'succeeded' || update.outcome === 'rolled-back', at(`the update succeeded or was rolled back: ${JSON.stringify(update)}`));
  assert.equal(served, update.outcome === 'succeeded' ? 'v2' : 'v1', at(`outcome ${update.outcome} agrees with what serves`));

  const notes = JSON.parse((await host.request('GET', '/api/notes')).body) as { text: string }[];
  for (const text of notesBefore) assert.ok(notes.some((n) => n.text === text), at(`the note "${text}" is still there`));
  assert.equal(host.schema(), served, at(`the data has the schema of the release that serves (${served})`));
  const write = await host.request('POST', '/api/notes', JSON.stringify({ text: 'after the fault' }));
  assert.equal(write.status, 201, at(`the app takes writes again: ${write.status} ${write.body}`));

  // A container the agent could not stop while the engine was away is stopped once it answers again: give that a moment.
  const onlyCurrent = () => {
    const running = host.containers().map((x) => `${x.role}:${x.release}`);
    return running.length === 1 && running[0] === `service:${currentId}`;
  };
  await waitUntil('only the serving container to run', onlyCurrent, 10_000, { intervalMs: 250 }).catch(() => undefined);
  const all = host.containers({ all: true });
  const running = all.filter((x) => x.running);
  assert.deepEqual(running.map((x) => [x.role, x.release]), [['service', currentId]], at(`only the serving release's container runs: ${JSON.stringify(all)}\n${slotLogs(host)}`));
  assert.deepEqual(all.filter((x) => x.role === 'command').map((x) => x.name), [], at('no one-off command container is left'));
  const failed = update.steps.find((s) => s.outcome === 'failed');
  return { served: served as Schema, outcome: update.outcome, failedStep: failed?.name ?? null };
}

/** The host's service logs, for a failure's message. */
function slotLogs(host: ContainerHost): string {
  const dir = path.join(host.hostRoot, 'logs');
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => `${f}:\n${readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('\n');
}

/** The cell's words: where the host ended and how. */
export function cellOf(r: CaseResult): string {
  if (r.outcome === 'succeeded') return '→v2 deployed';
  return ['lock', 'fetch', 'preflight'].includes(r.failedStep ?? '') ? `→v1 refused (${r.failedStep})` : `→v1 rolled back (${r.failedStep ?? '?'})`;
}
