/**
 * How fast `slipway rollback` brings the previous release back. For each rollback: the
 * time from the command's start until the old version answers /version through the proxy
 * (polled every 5 ms on its own connection while the CLI runs), the command's wall time,
 * when the request reached the agent (the CLI's own start: Node, slipway.yml, the socket)
 * and how long the agent took from there to the switch (both from `history --json`).
 *
 * Warm: the previous release is still running in standby (DESIGN.md step 8), so the
 * rollback is a proxy switch. Cold: `standby: off`, the release starts from disk, as a
 * rollback outside the standby window does. Baseline from the same run: the wall time of
 * a bare `slipway status` (what any CLI call costs: Node, loading slipway.yml, the socket), and
 * of a bare `node -e 0` (Node alone: the floor under any CLI call, which a loaded machine raises).
 *
 *   node dist/bench/rollback.js        (BENCH_RUNS=5)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHostFixture, type HostFixture } from '../test/helpers/host-fixture.js';
import { agentTimesOf } from './agent-times.js';
import { bareNodeMs } from './bare-node.js';
import { pollVersionUntil } from './poll-version.js';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const healthWindow = '1s';

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}


interface Timed {
  wallMs: number;
  answeredMs: number | null;
  output: string;
  /** Date.now() when the command started, to compare with the agent's timestamps */
  startedAtMs: number;
}

async function timed(host: HostFixture, args: string[], expectVersion?: string): Promise<Timed> {
  const stop = { stopped: false };
  const startedAtMs = Date.now();
  const t0 = performance.now();
  const answered = expectVersion ? pollVersionUntil(host.port, expectVersion, t0, stop) : Promise.resolve(null);
  const result = await host.cli(args);
  const wallMs = performance.now() - t0;
  if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed:\n${result.stderr}`);
  const timer = setTimeout(() => (stop.stopped = true), 10_000);
  const answeredMs = await answered;
  clearTimeout(timer);
  stop.stopped = true;
  return { wallMs, answeredMs, output: result.stdout + result.stderr, startedAtMs };
}

/** For the latest update: when the agent recorded its start (ms after `commandStartedAtMs`), and its steps' time up to the end of the switch. */
async function agentTimes(host: HostFixture, commandStartedAtMs: number): Promise<{ receivedMs: number; toSwitchMs: number }> {
  return agentTimesOf((await host.cli(['history', 'production', '--json'])).stdout, commandStartedAtMs);
}

function setStandby(host: HostFixture, value: string): void {
  const file = path.join(host.repo, 'slipway.yml');
  writeFileSync(file, `${readFileSync(file, 'utf8').replace(/^ {4}standby: .*\n/m, '')}    standby: ${value}\n`);
}

interface Series {
  wall: number[];
  answered: number[];
  received: number[];
  agent: number[];
}

const series = (): Series => ({ wall: [], answered: [], received: [], agent: [] });

async function rollbackOnce(host: HostFixture, args: string[], want: string, into: Series, expect: RegExp): Promise<void> {
  const r = await timed(host, args, want);
  if (!expect.test(r.output)) throw new Error(`slipway ${args.join(' ')}: expected ${expect} in its output:\n${r.output}`);
  into.wall.push(r.wallMs);
  if (r.answeredMs !== null) into.answered.push(r.answeredMs);
  const agentSide = await agentTimes(host, r.startedAtMs);
  into.received.push(agentSide.receivedMs);
  into.agent.push(agentSide.toSwitchMs);
}

const teardowns: Array<() => Promise<void>> = [];
try {
  const host = await createHostFixture({ after: (fn) => teardowns.push(fn) }, { healthWindow, build: ['v1', 'v2'] });
  setStandby(host, '10m');
  let agent = await host.startAgent();
  await timed(host, ['deploy', 'production', '--version', 'v1', '--yes']);
  await timed(host, ['deploy', 'production', '--version', 'v2', '--yes']);

  const status: number[] = [];
  const warmBack = series();
  const warmForward = series();
  const node: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    node.push(await bareNodeMs());
    status.push((await timed(host, ['status', 'production'])).wallMs);
    await rollbackOnce(host, ['rollback', 'production', '--yes'], 'v1', warmBack, /warm in slot/);
    node.push(await bareNodeMs());
    status.push((await timed(host, ['status', 'production'])).wallMs);
    await rollbackOnce(host, ['rollback', 'production', '--to', 'v2', '--yes'], 'v2', warmForward, /warm in slot/);
  }

  // The same host with standby off: every rollback starts its release cold.
  await agent.stop();
  setStandby(host, 'off');
  agent = await host.startAgent();
  const coldBack = series();
  for (let i = 0; i < runs; i += 1) {
    status.push((await timed(host, ['status', 'production'])).wallMs);
    await rollbackOnce(host, ['rollback', 'production', '--yes'], 'v1', coldBack, /cold start/);
    await timed(host, ['rollback', 'production', '--to', 'v2', '--yes']);
  }
  await agent.stop();

  const f = (n: number) => `${Number.isNaN(n) ? '-' : n.toFixed(0)} ms`.padStart(8);
  const row = (label: string, s: Series) =>
    `  ${label.padEnd(38)} wall ${f(median(s.wall))}   answers after ${f(median(s.answered))}   (request at the agent after ${f(median(s.received))}, then switch steps ${f(median(s.agent))})`;
  const baseline = median(status);
  console.log(`rollback: medians over ${runs} runs each (health window ${healthWindow}, example app)`);
  console.log(`  ${'slipway status (baseline CLI call)'.padEnd(38)} wall ${f(baseline)}`);
  console.log(`  ${'node -e 0 (the floor: Node alone)'.padEnd(38)} wall ${f(median(node))}`);
  console.log(row('warm rollback v2 → v1 (proxy switch)', warmBack));
  console.log(row('warm rollback --to v2 (v1 → v2)', warmForward));
  console.log(row('cold rollback v2 → v1 (standby off)', coldBack));
  const warmWall = median([...warmBack.wall, ...warmForward.wall]);
  const warmAnswered = median([...warmBack.answered, ...warmForward.answered]);
  console.log(
    `rollback: warm, the old release answers ${warmAnswered.toFixed(0)} ms after the command starts (${(warmAnswered / baseline).toFixed(2)}x a bare status; target 150 ms); ` +
      `the command takes ${(warmWall / baseline).toFixed(2)}x a bare \`slipway status\` (target ≤ 2x); cold it takes ${(median(coldBack.wall) / baseline).toFixed(2)}x`,
  );
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined) {
    // Set in this sandbox: every Node start (each CLI call above) reads and parses the CA bundle it names first.
    const without: number[] = [];
    for (let i = 0; i < 5; i += 1) without.push(await bareNodeMs({ NODE_EXTRA_CA_CERTS: undefined }));
    console.log(`rollback: NODE_EXTRA_CA_CERTS is set here, as most servers do not: a bare node -e 0 takes ${median(node).toFixed(0)} ms with it and ${median(without).toFixed(0)} ms without; every figure above pays the difference (bench/big-release measures both)`);
  }
  // On a loaded machine Node's own start dominates: how far above it the warm rollback answers.
  console.log(`rollback: warm, the old release answers ${(warmAnswered - median(node)).toFixed(0)} ms after a bare \`node -e 0\` would have ended (${(warmAnswered / median(node)).toFixed(2)}x it)`);
} finally {
  for (const teardown of teardowns.reverse()) await teardown().catch((error) => console.error(`teardown: ${(error as Error).message}`));
}
