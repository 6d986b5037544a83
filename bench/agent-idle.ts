/**
 * What an idle agent in pull mode costs: the notes example deployed from an S3
 * server (s3rver), the agent polling its channel every 5 s, sampled from /proc
 * for 60 s (BENCH_IDLE_SECONDS). Prints the agent's RSS and CPU share, next to
 * a bare `node` process with a timer measured in the same run as the baseline.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startS3Server } from '../test/helpers/s3.js';
import { signRequest } from '../src/agent/management-auth.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'bin', 'slipway.js');
const seconds = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const POLL_INTERVAL = '5s';
const MANAGEMENT_SECRET = 'bench-agent-idle-management-secret-0123456789';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** How often the agent has read its channel so far, from its management API (GET /v1/status, signed). */
async function pollCounts(managementPort: number): Promise<{ polls: number; unchanged: number }> {
  const managementUrl = `http://127.0.0.1:${managementPort}`;
  // slipway.yml names no hostname: the agent answers to the machine's name.
  const signed = signRequest({ secret: MANAGEMENT_SECRET, method: 'GET', path: '/v1/status', environment: 'production', host: os.hostname(), hostHeader: new URL(managementUrl).host });
  const response = await fetch(`${managementUrl}/v1/status`, {
    headers: { ...signed, connection: 'close' },
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) throw new Error(`GET /v1/status answered HTTP ${response.status}`);
  const status = (await response.json()) as { pull?: { polls: number; unchanged: number } | null };
  if (!status.pull) throw new Error('the agent does not report pull mode');
  return { polls: status.pull.polls, unchanged: status.pull.unchanged };
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function clockTicksPerSecond(): Promise<number> {
  try {
    return Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  } catch {
    return 100;
  }
}

/** CPU time used so far (user + system, in ticks) and resident memory (bytes) of one process. */
function sample(pid: number): { ticks: number; rss: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { ticks, rss: rssKb * 1024 };
  } catch {
    return null;
  }
}

interface Measured {
  rssMin: number;
  rssMax: number;
  rssAvg: number;
  /** the first and last samples: a leak shows as a steady climb, unlike the swings of garbage collection */
  rssFirst: number;
  rssLast: number;
  cpuShare: number;
}

async function measure(pids: Record<string, number>, durationS: number, hz: number): Promise<Record<string, Measured>> {
  const first = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, sample(pid)]));
  const rss: Record<string, number[]> = Object.fromEntries(Object.keys(pids).map((name) => [name, []]));
  const started = process.hrtime.bigint();
  for (let i = 0; i < durationS; i += 1) {
    await sleep(1000);
    for (const [name, pid] of Object.entries(pids)) {
      const now = sample(pid);
      if (!now) throw new Error(`${name} (pid ${pid}) exited during the measurement`);
      rss[name]!.push(now.rss);
    }
  }
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const out: Record<string, Measured> = {};
  for (const [name, pid] of Object.entries(pids)) {
    const last = sample(pid)!;
    const values = rss[name]!;
    out[name] = {
      rssMin: Math.min(...values),
      rssMax: Math.max(...values),
      rssAvg: values.reduce((a, b) => a + b, 0) / values.length,
      rssFirst: values[0]!,
      rssLast: values.at(-1)!,
      cpuShare: (last.ticks - first[name]!.ticks) / hz / elapsedS,
    };
  }
  return out;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const pct = (share: number) => `${(share * 100).toFixed(2)}%`;

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-idle-'));
  const children: ChildProcess[] = [];
  const s3 = await startS3Server({ buckets: ['bench-idle'] });
  try {
    const port = await freePort();
    const managementPort = await freePort();
    const fixtureScript = (await import(pathToFileURL(path.join(root, 'examples', 'make-fixture-repo.js')).href)) as {
      createNotesFixtureRepo(dest: string, options?: { port?: number; healthWindow?: string }): Promise<{ dir: string }>;
    };
    const { dir: repo } = await fixtureScript.createNotesFixtureRepo(path.join(work, 'repo'), { port, healthWindow: '1s' });
    // The environment's store and pull settings live in the working copy (not in releases).
    appendFileSync(
      path.join(repo, 'slipway.yml'),
      `    store: { type: s3, bucket: bench-idle, endpoint: "${s3.endpoint}", force_path_style: true }\n    pull: { interval: ${POLL_INTERVAL}, jitter: 0s }\n` +
        `    management: { port: ${managementPort}, secret_env: SLIPWAY_MANAGEMENT_SECRET }\n`,
    );
    const env = { ...process.env, ...s3.env, SLIPWAY_HOME: path.join(work, 'home'), SLIPWAY_WHO: 'bench', NO_COLOR: '1', SLIPWAY_MANAGEMENT_SECRET: MANAGEMENT_SECRET };

    await run(process.execPath, [cli, 'publish', 'production', '--ref', 'v1'], { cwd: repo, env });
    const agent = spawn(process.execPath, [cli, 'agent', '--env', 'production'], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(agent);
    let output = '';
    agent.stdout.on('data', (chunk) => (output += chunk));
    agent.stderr.on('data', (chunk) => (output += chunk));

    // The agent finds v1 on the channel at its first poll and deploys it.
    const deadline = Date.now() + 90_000;
    while ((await httpStatus(`http://127.0.0.1:${port}/healthz`)) !== 200) {
      if (agent.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the agent did not deploy v1 from the channel (exit ${agent.exitCode}):\n${output.slice(-3000)}`);
      }
      await sleep(500);
    }
    // Let the deployment settle (health window, status report) before measuring idling.
    await sleep(5000);

    const baseline = spawn(process.execPath, ['-e', 'setInterval(() => {}, 5000)'], { stdio: 'ignore' });
    children.push(baseline);
    await sleep(500);

    const hz = await clockTicksPerSecond();
    console.log(`agent-idle: sampling the agent (pid ${agent.pid}) and a bare node timer (pid ${baseline.pid}) for ${seconds} s, polling every ${POLL_INTERVAL}…`);
    const pollsBefore = await pollCounts(managementPort);
    const result = await measure({ agent: agent.pid!, baseline: baseline.pid! }, seconds, hz);
    const pollsAfter = await pollCounts(managementPort);
    const a = result.agent!;
    const b = result.baseline!;
    console.log(`agent-idle: agent    RSS avg ${mib(a.rssAvg)} (min ${mib(a.rssMin)}, max ${mib(a.rssMax)}), CPU ${pct(a.cpuShare)} of one core`);
    console.log(`agent-idle: baseline RSS avg ${mib(b.rssAvg)} (min ${mib(b.rssMin)}, max ${mib(b.rssMax)}), CPU ${pct(b.cpuShare)} of one core`);
    const polls = pollsAfter.polls - pollsBefore.polls;
    const unchanged = pollsAfter.unchanged - pollsBefore.unchanged;
    console.log(`agent-idle: ${polls} polls of the channel during the run, ${unchanged} of them answered "not modified" (a conditional GET)`);
    if (polls === 0) throw new Error('the agent did not poll its channel during the run: the measurement is not of an agent in pull mode');
    const change = a.rssLast - a.rssFirst;
    console.log(`agent-idle: ratio RSS ${(a.rssAvg / b.rssAvg).toFixed(2)}x; agent RSS ${mib(a.rssFirst)} at the first sample, ${mib(a.rssLast)} at the last (${change >= 0 ? '+' : '-'}${mib(Math.abs(change))})`);
    if (!existsSync(`/proc/${agent.pid}`)) throw new Error('the agent exited');
  } finally {
    for (const child of children.reverse()) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(15_000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`agent-idle: failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
