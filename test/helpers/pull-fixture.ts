/**
 * Pull-mode end-to-end fixture: a throwaway S3 server (s3rver), the notes
 * example app as a git repository whose committed slipway.yml keeps one or
 * more environments in that bucket with pull mode and the management API on,
 * and helpers to run the real CLI (the CI side), start real agents (the host
 * side) and look at what they did: the proxy's /version, the status reports
 * in the store, `slipway history`.
 *
 *   const f = await createPullFixture(t, { environments: ['production'] });
 *   await f.cliOk(['publish', 'production', '--ref', 'v1']);
 *   await f.startAgent('production');
 *   await f.waitForVersion('production', 'v1');
 *
 * The teardown (registered on t) stops every agent, kills whatever process
 * still runs inside the fixture's folder, stops the S3 server and removes the
 * folder; it fails the test when an agent or app process survived.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { startS3Server, type RunningS3Server } from './s3.js';
import { CLI_PATH, REPO_ROOT, commitAll, runCli, testRunnerEnv, type CliResult } from './cli.js';
import { freePort } from './free-port.js';
import { removeTree } from './temp-dir.js';
import { createS3Store } from '../../src/store/s3-store.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { readHostStatuses, type HostStatusReport } from '../../src/store/status-reports.js';
import { killProcessesUnder, processesUnder, startAgentProcess, type AgentProcess } from './processes.js';
import { waitUntil } from './wait-until.js';

export { processesUnder, waitUntil };

const run = promisify(execFile);

export const APP = 'notes';
export const BUCKET = 'slipway-pull';
/** long enough for the agent's check (at least 16 characters); never a real secret */
export const MANAGEMENT_SECRET = 'e2e-pull-management-secret-0123456789abcdef';
export const MANAGEMENT_SECRET_ENV = 'SLIPWAY_MANAGEMENT_SECRET';

export interface PullEnvironment {
  name: string;
  /** the proxy's public port */
  port: number;
  managementPort: number;
  /** http://127.0.0.1:<managementPort> */
  managementUrl: string;
  /** $SLIPWAY_HOME/hosts/notes/<env> (the default root) */
  hostRoot: string;
}

/** An agent of one environment (`environment` names it). */
export type PullAgent = AgentProcess;

/** `slipway history <env> --json` entries (the fields the tests look at). */
export interface DeploymentEntry {
  id: number;
  kind?: string;
  from: string | null;
  to: string | null;
  outcome: string | null;
  startedAt: string;
  finishedAt: string | null;
  error?: string | null;
  steps: { name: string; outcome: string; ms: number }[];
}

export interface PullFixtureOptions {
  /** environments in slipway.yml, all in the same bucket (default ['production']) */
  environments?: string[];
  /** pull.interval of every environment (default '1s') */
  pullInterval?: string;
  /** services.web.health.deadline: how long v3 (never healthy) takes to fail (default '5s') */
  healthDeadline?: string;
}

export interface PullFixture {
  dir: string;
  repo: string;
  home: string;
  s3: RunningS3Server;
  /** the bucket as slipway sees it (the same S3 store module, opened by the test) */
  store: BlobStore;
  /** the name agents report under (the machine's hostname: slipway.yml sets none) */
  hostname: string;
  envs: Record<string, PullEnvironment>;
  /** variables every CLI run and agent gets: S3 credentials, the management secret, SLIPWAY_WHO */
  env: Record<string, string>;
  cli(args: string[], o?: { env?: Record<string, string | undefined>; timeoutMs?: number }): Promise<CliResult>;
  /** runs the CLI and fails with its output unless it exits 0; parses stdout as JSON when `--json` is among args */
  cliOk<T = unknown>(args: string[]): Promise<T>;
  startAgent(env: string, o?: { env?: Record<string, string> }): Promise<PullAgent>;
  /** what GET /version answers through the environment's proxy, or null when no release answers */
  version(env: string): Promise<string | null>;
  /** waits until /version says `version` (failing with the agents' output) */
  waitForVersion(env: string, version: string, timeoutMs?: number): Promise<void>;
  /** this host's status report in the store, or null */
  report(env: string): Promise<HostStatusReport | null>;
  waitForReport(env: string, what: string, accept: (report: HostStatusReport) => boolean, timeoutMs?: number): Promise<HostStatusReport>;
  /** `slipway history <env> --json`, newest first */
  history(env: string): Promise<DeploymentEntry[]>;
  /** the agents' output, for failure messages */
  agentOutput(): string;
}

export async function createPullFixture(t: { after(fn: () => Promise<void>): void }, options: PullFixtureOptions = {}): Promise<PullFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-pull-'));
  const agents: PullAgent[] = [];
  let s3: RunningS3Server | undefined;
  t.after(async () => {
    await teardown({ dir, agents });
    await s3?.stop();
  });
  s3 = await startS3Server({ buckets: [BUCKET] });

  const envNames = options.environments ?? ['production'];
  const home = path.join(dir, 'home');
  const envs: Record<string, PullEnvironment> = {};
  for (const name of envNames) {
    const managementPort = await freePort();
    envs[name] = { name, port: await freePort(), managementPort, managementUrl: `http://127.0.0.1:${managementPort}`, hostRoot: path.join(home, 'hosts', APP, name) };
  }

  const script = (await import(pathToFileURL(path.join(REPO_ROOT, 'examples', 'make-fixture-repo.js')).href)) as {
    createNotesFixtureRepo(dest: string, o: { port: number; nodePath: string; healthWindow?: string; drainTimeout?: string; healthDeadline?: string }): Promise<{ dir: string }>;
  };
  const repo = path.join(dir, 'repo');
  await script.createNotesFixtureRepo(repo, {
    port: envs[envNames[0]!]!.port,
    nodePath: path.join(REPO_ROOT, 'node_modules'),
    healthDeadline: options.healthDeadline ?? '5s',
  });
  // The releases (tags v1…v3) keep the app's part of slipway.yml; the environments
  // the CLI and the agents read are the ones committed on main.
  const ymlPath = path.join(repo, 'slipway.yml');
  const appPart = readFileSync(ymlPath, 'utf8').split(/^environments:\n/m)[0]!;
  const store = `{ type: s3, bucket: ${BUCKET}, endpoint: "${s3.endpoint}", force_path_style: true }`;
  const environments = Object.values(envs).map((e) =>
    [
      `  ${e.name}:`,
      '    host: local',
      `    port: ${e.port}`,
      '    health_window: 1s',
      '    drain_timeout: 1s',
      `    store: ${store}`,
      `    pull: { interval: ${options.pullInterval ?? '1s'}, jitter: 0s }`,
      `    management: { port: ${e.managementPort}, secret_env: ${MANAGEMENT_SECRET_ENV} }`,
    ].join('\n'),
  );
  writeFileSync(ymlPath, `${appPart}environments:\n${environments.join('\n')}\n`);
  commitAll(repo, 'environments: pull from the S3 store');

  const env: Record<string, string> = { ...s3.env, [MANAGEMENT_SECRET_ENV]: MANAGEMENT_SECRET, SLIPWAY_WHO: 'ci-e2e' };
  const cli: PullFixture['cli'] = (args, o = {}) => runCli(args, { cwd: repo, home, env: { ...env, ...o.env }, timeoutMs: o.timeoutMs ?? 60_000 });
  const agentOutput = () => agents.map((a) => `--- agent ${a.environment} (pid ${a.pid}) ---\n${a.output().slice(-6000)}`).join('\n');
  const s3Store = await createS3Store({ bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true }, s3.env);
  const hostname = os.hostname();

  const fixture: PullFixture = {
    dir,
    repo,
    home,
    s3,
    store: s3Store,
    hostname,
    envs,
    env,
    cli,
    async cliOk<T>(args: string[]): Promise<T> {
      const result = await cli(args);
      if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}\n${agentOutput()}`);
      return (args.includes('--json') ? JSON.parse(result.stdout) : result.stdout) as T;
    },
    async startAgent(name, o = {}) {
      return startAgentProcess({
        cli: CLI_PATH,
        cwd: repo,
        environment: name,
        env: childEnv({ ...env, ...o.env, SLIPWAY_HOME: home }),
        onStart: (agent) => agents.push(agent),
      });
    },
    version: (name) => getVersion(envs[name]!.port),
    async waitForVersion(name, version, timeoutMs = 45_000) {
      let last: string | null = null;
      await waitUntil(
        `${name} to serve ${version}`,
        async () => (last = await getVersion(envs[name]!.port)) === version,
        timeoutMs,
        { explain: () => `last answer: ${last}\n${agentOutput()}`, intervalMs: 100 },
      );
    },
    async report(name) {
      const reports = await readHostStatuses(s3Store, APP, name);
      return reports.find((r) => r.host === hostname) ?? null;
    },
    async waitForReport(name, what, accept, timeoutMs = 30_000) {
      let last: HostStatusReport | null = null;
      let lastError = '';
      await waitUntil(
        `the status report of ${name} to say ${what}`,
        async () => {
          try {
            last = await fixture.report(name);
          } catch (error) {
            // s3rver rewrites an object in place: a read racing the agent's write can be cut short. Read again.
            lastError = (error as Error).message;
            return false;
          }
          return last !== null && !last.problem && accept(last);
        },
        timeoutMs,
        { explain: () => `last report: ${JSON.stringify(last, null, 2)}${lastError ? `\nlast read error: ${lastError}` : ''}\n${agentOutput()}`, intervalMs: 100 },
      );
      return last!;
    },
    async history(name) {
      return fixture.cliOk<DeploymentEntry[]>(['history', name, '--json']);
    },
    agentOutput,
  };
  return fixture;
}

/** The test runner's variables minus what would change slipway's behaviour, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...testRunnerEnv(), NO_COLOR: '1', ...extra };
}

function getVersion(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/version', agent: false, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8').trim() : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}


async function teardown(o: { dir: string; agents: PullAgent[] }): Promise<void> {
  // A clean stop first: the agent stops its app. Whatever is left after that is a leak.
  await Promise.all(o.agents.map((agent) => agent.stop()));
  const leftBehind = processesUnder(o.dir);
  await killProcessesUnder(o.dir);
  await run('chmod', ['-R', 'u+w', o.dir]).catch(() => undefined);
  removeTree(o.dir);
  if (leftBehind.length > 0) throw new Error(`processes outlived their agents: ${leftBehind.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
}
