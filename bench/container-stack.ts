/**
 * The notes app as a compose stack (web, worker, PostgreSQL accessory) for the container
 * benches: the repository made by examples/make-stack-repo.js, turned into slipway.yml by
 * `slipway init --from-compose`, tagged v1..v3 and built into a temp SLIPWAY_HOME's store,
 * on free loopback ports. Everything it starts (agents, containers, volumes, the app's
 * images) is removed by the teardown.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI_PATH, REPO_ROOT, testRunnerEnv } from '../test/helpers/cli.js';
import { dockerUnavailableReason, ensureNodeBaseImage, removeContainersOf } from '../test/helpers/docker.js';
import { ensurePostgresImage, installedPostgresMajor } from '../test/helpers/docker-postgres.js';
import { freePort } from '../test/helpers/free-port.js';
import type { TeardownRegistry } from '../test/helpers/host-fixture.js';
import { killProcessesUnder, startAgentProcess, type AgentProcess } from '../test/helpers/processes.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  output(): string;
  /** resolves once the output matches (rejects if the command ends first) */
  waitFor(pattern: RegExp): Promise<void>;
  result: Promise<CliResult>;
}

export interface ContainerStack {
  app: string;
  dir: string;
  repo: string;
  home: string;
  /** the proxy's public port */
  port: number;
  dbPort: number;
  cli(args: string[], input?: string): Promise<CliResult>;
  spawnCli(args: string[]): RunningCli;
  /** `slipway build --ref <tag> --json`: the release id and what the build printed */
  build(tag: string): Promise<{ id: string; output: string }>;
  startAgent(): Promise<AgentProcess>;
  /** runs the CLI and throws with its output when it fails */
  must(args: string[]): Promise<CliResult>;
  /** GET through the proxy on a fresh connection: status and body ('' and 0 when refused) */
  get(urlPath: string): Promise<{ status: number; body: string }>;
}

/** Why a container bench cannot run here, or null. */
export function containerSkipReason(): string | null {
  const docker = dockerUnavailableReason();
  if (docker !== null) return docker;
  if (installedPostgresMajor() === null) return 'no PostgreSQL server binaries under /usr/lib/postgresql/<N>/bin to make the accessory image from';
  return null;
}

type StackScript = {
  createNotesStackRepo(dest: string, options: { baseImage: string; postgresImage: string; dbPort: number }): Promise<{ dir: string; password: string }>;
  commitNotesStackVersion(dir: string, tag: 'v1' | 'v2' | 'v3'): Promise<void>;
};

export async function createContainerStack(
  t: TeardownRegistry,
  o: { build: string[]; healthWindow?: string; drainTimeout?: string; standby?: string },
): Promise<ContainerStack> {
  const baseImage = ensureNodeBaseImage();
  const postgresImage = ensurePostgresImage();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-stack-'));
  // The app name is the folder's: a unique one keeps the containers, volumes and images apart from others on the engine.
  const app = `notes-bench-${randomBytes(3).toString('hex')}`;
  const repo = path.join(dir, app);
  const home = path.join(dir, 'home');
  const agents = new Set<AgentProcess>();
  t.after(async () => {
    for (const agent of agents) await agent.stop().catch(() => undefined);
    await killProcessesUnder(dir);
    removeContainersOf(app);
    const images = spawnSync('docker', ['images', '-q', '--filter', `label=dev.slipway.app=${app}`], { encoding: 'utf8' }).stdout.trim();
    if (images !== '') spawnSync('docker', ['rmi', '-f', ...new Set(images.split(/\s+/))], { stdio: 'ignore' });
    spawnSync('chmod', ['-R', 'u+w', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const [port, dbPort] = [await freePort(), await freePort()];
  const script = (await import(pathToFileURL(path.join(REPO_ROOT, 'examples', 'make-stack-repo.js')).href)) as StackScript;
  await script.createNotesStackRepo(repo, { baseImage, postgresImage, dbPort });
  const env = { ...testRunnerEnv(), SLIPWAY_HOME: home, NO_COLOR: '1', SLIPWAY_WHO: 'bench' };

  const spawnCli = (args: string[], input?: string): RunningCli => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd: repo, env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    const watchers = new Set<() => void>();
    child.stdout!.setEncoding('utf8').on('data', (c: string) => ((stdout += c), watchers.forEach((w) => w())));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => ((stderr += c), watchers.forEach((w) => w())));
    const result = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    const output = () => stdout + stderr;
    const waitFor = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output())) return;
          watchers.delete(check);
          resolve();
        };
        watchers.add(check);
        check();
        void result.then(() => {
          if (watchers.delete(check)) reject(new Error(`slipway ${args.join(' ')} ended before printing ${pattern}`));
        });
      });
    return { child, output, waitFor, result };
  };
  const cli = (args: string[], input?: string) => spawnCli(args, input).result;
  const must = async (args: string[]) => {
    const r = await cli(args);
    if (r.code !== 0) throw new Error(`slipway ${args.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
    return r;
  };

  await must(['init', '--from-compose', 'compose.yml', '--yes']);
  // Older init mapped the accessory to PostgreSQL's own port (5432, often taken on a shared machine): moved to the free one.
  const file = path.join(repo, 'slipway.yml');
  let yml = readFileSync(file, 'utf8')
    .replace(/^ {4}port: 5432$/m, `    port: ${dbPort}`)
    .replace('command: [-c, listen_addresses=127.0.0.1]', `command: [-c, listen_addresses=127.0.0.1, -p, "${dbPort}"]`)
    .replace(/^( {4}port: )8000\b/m, `$1${port}`)
    .replace(/^( {4}health_window: )\S+/m, `$1${o.healthWindow ?? '2s'}`)
    .replace(/^( {4}drain_timeout: )\S+/m, `$1${o.drainTimeout ?? '5s'}`);
  if (o.standby) yml = yml.replace(/^ {4}# standby: \S+/m, `    standby: ${o.standby}`);
  if (!yml.includes(`port: ${dbPort}`) || !yml.includes(`port: ${port}`)) throw new Error(`slipway.yml from init --from-compose does not say the ports ${dbPort} and ${port}:\n${yml}`);
  writeFileSync(file, yml);
  const envFile = readFileSync(path.join(home, 'hosts', app, 'production', 'shared', '.env'), 'utf8');
  const dbUrl = /^DB_DATABASE_URL=(.*:5432\/.*)$/m.exec(envFile)?.[1];
  if (dbUrl) {
    const set = await cli(['config', 'production', 'set', 'DB_DATABASE_URL'], `${dbUrl.replace(':5432/', `:${dbPort}/`)}\n`);
    if (set.code !== 0) throw new Error(`config set DB_DATABASE_URL failed:\n${set.stderr}`);
  }
  for (const tag of ['v1', 'v2', 'v3'] as const) await script.commitNotesStackVersion(repo, tag);

  const stack: ContainerStack = {
    app,
    dir,
    repo,
    home,
    port,
    dbPort,
    cli,
    spawnCli: (args) => spawnCli(args),
    must,
    async build(tag) {
      const r = await must(['build', '--ref', tag, '--json']);
      return { id: (JSON.parse(r.stdout) as { id: string }).id, output: r.stderr };
    },
    startAgent: () => startAgentProcess({ cli: CLI_PATH, cwd: repo, environment: 'production', env, onStart: (a) => agents.add(a) }),
    get: (urlPath) =>
      new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', () => resolve({ status: 0, body: '' }));
        });
        req.setTimeout(10_000, () => req.destroy());
        req.on('error', () => resolve({ status: 0, body: '' }));
      }),
  };
  for (const tag of o.build) await stack.build(tag);
  return stack;
}

/** The median of some timings; NaN for none. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
