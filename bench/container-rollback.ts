/**
 * How fast `slipway rollback` brings the previous release of a container stack back (web and
 * worker containers, PostgreSQL accessory; v2 ran a migration). For each rollback: the time
 * from the command's start until the old version answers /version through the proxy (polled
 * every 5 ms while the CLI runs) and the command's wall time.
 *
 * Warm: the previous release's containers still run in standby, so the rollback is a proxy
 * switch. Cold: `standby: off`, its containers start again. --with-data: the backup the
 * update took before v2's migration is restored (a backup of the data as it is now taken
 * first), then v1 starts on it. Baseline from the same run: the wall time of a bare
 * `slipway status` (what any CLI call costs: Node, loading slipway.yml, the socket).
 *
 *   node dist/bench/container-rollback.js        (BENCH_RUNS=3, BENCH_DATA_RUNS=2)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { containerSkipReason, createContainerStack, median, type ContainerStack } from './container-stack.js';
import { pollVersionUntil } from './poll-version.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const dataRuns = Number(process.env.BENCH_DATA_RUNS ?? 2);
const healthWindow = '2s';

const skip = containerSkipReason();
if (skip !== null) {
  console.log(`container-rollback: SKIPPED: needs a Docker engine and PostgreSQL binaries: ${skip}`);
  process.exit(0);
}


interface Series {
  wall: number[];
  answered: number[];
  /** step name → ms of each run, from `history --json` */
  steps: Map<string, number[]>;
}

const series = (): Series => ({ wall: [], answered: [], steps: new Map() });

/** Runs the CLI; its wall time, and when `/version` first answered `want` (when given). Throws when it fails or its output lacks `expect`. */
async function timed(stack: ContainerStack, args: string[], want?: string, expect?: RegExp): Promise<{ wallMs: number; answeredMs: number | null }> {
  const stop = { stopped: false };
  const t0 = performance.now();
  const last = { body: '' };
  const answered = want ? pollVersionUntil(stack.port, want, t0, stop, last) : Promise.resolve(null);
  const result = await stack.cli(args);
  const wallMs = performance.now() - t0;
  const output = result.stdout + result.stderr;
  if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed (${result.code}):\n${output}`);
  if (expect && !expect.test(output)) throw new Error(`slipway ${args.join(' ')}: expected ${expect} in its output:\n${output}`);
  const timer = setTimeout(() => (stop.stopped = true), 10_000);
  const answeredMs = await answered;
  clearTimeout(timer);
  stop.stopped = true;
  if (want && answeredMs === null) throw new Error(`slipway ${args.join(' ')}: /version never answered ${want} (last: ${JSON.stringify(last.body.slice(0, 80))}); its output:\n${output}`);
  return { wallMs, answeredMs };
}

async function into(stack: ContainerStack, series: Series, r: Promise<{ wallMs: number; answeredMs: number | null }>): Promise<void> {
  const { wallMs, answeredMs } = await r;
  series.wall.push(wallMs);
  if (answeredMs !== null) series.answered.push(answeredMs);
  // Where the agent spent the time: each step of the rollback it just recorded.
  const history = JSON.parse((await stack.must(['history', 'production', '--json'])).stdout) as { steps: { name: string; ms: number }[] }[];
  for (const step of history[0]?.steps ?? []) {
    const list = series.steps.get(step.name) ?? [];
    list.push(step.ms);
    series.steps.set(step.name, list);
  }
}

/** "lock 12, fetch 30, …" (medians in ms) for the steps that took 10 ms or more */
function stepLine(s: Series): string {
  const parts = [...s.steps].map(([name, ms]) => [name, median(ms)] as const).filter(([, ms]) => ms >= 10);
  return parts.map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ');
}

function setStandby(stack: ContainerStack, value: string): void {
  const file = path.join(stack.repo, 'slipway.yml');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {4}standby: .*$/m, `    standby: ${value}`));
}

let ok = false;
const teardowns: Array<() => Promise<void>> = [];
try {
  const stack = await createContainerStack({ after: (fn) => teardowns.push(fn) }, { build: ['v1', 'v2'], healthWindow, standby: '10m' });
  await stack.must(['accessory', 'start', 'production']);
  let agent = await stack.startAgent();
  await stack.must(['deploy', 'production', '--version', 'v1', '--yes']);
  await stack.must(['deploy', 'production', '--version', 'v2', '--yes']);

  // Each --with-data rollback follows a real v1 → v2 update: its migration ran after the backup it restores.
  const status: number[] = [];
  const withData: Series = series();
  for (let i = 0; i < dataRuns; i += 1) {
    status.push((await timed(stack, ['status', 'production'])).wallMs);
    await into(stack, withData, timed(stack, ['rollback', 'production', '--with-data', '--yes'], 'v1'));
    await stack.must(['deploy', 'production', '--version', 'v2', '--yes']);
  }

  const warmBack: Series = series();
  const warmForward: Series = series();
  for (let i = 0; i < runs; i += 1) {
    status.push((await timed(stack, ['status', 'production'])).wallMs);
    await into(stack, warmBack, timed(stack, ['rollback', 'production', '--yes'], 'v1', /warm in slot/));
    status.push((await timed(stack, ['status', 'production'])).wallMs);
    await into(stack, warmForward, timed(stack, ['rollback', 'production', '--to', 'v2', '--yes'], 'v2', /warm in slot/));
  }

  // The same host with standby off: every rollback starts its release's containers again.
  await agent.stop();
  setStandby(stack, 'off');
  agent = await stack.startAgent();
  const coldBack: Series = series();
  for (let i = 0; i < runs; i += 1) {
    status.push((await timed(stack, ['status', 'production'])).wallMs);
    await into(stack, coldBack, timed(stack, ['rollback', 'production', '--yes'], 'v1', /cold start/));
    await timed(stack, ['rollback', 'production', '--to', 'v2', '--yes'], 'v2');
  }
  await agent.stop();

  const f = (n: number) => `${Number.isNaN(n) ? '-' : n.toFixed(0)} ms`.padStart(9);
  const baseline = median(status);
  const row = (label: string, s: Series) =>
    `  ${label.padEnd(42)} wall ${f(median(s.wall))} (${(median(s.wall) / baseline).toFixed(2)}x status)   old version answers after ${f(median(s.answered))}`;
  console.log(`container-rollback: medians over ${runs} runs each (${dataRuns} with data); container stack (web, worker, PostgreSQL accessory), health window ${healthWindow}; timings on a shared 2-core machine`);
  console.log(`  ${'slipway status (baseline CLI call)'.padEnd(42)} wall ${f(baseline)}`);
  console.log(row('warm rollback v2 → v1 (proxy switch)', warmBack));
  console.log(row('warm rollback --to v2 (v1 → v2)', warmForward));
  console.log(row('cold rollback v2 → v1 (standby off)', coldBack));
  console.log(row('rollback --with-data v2 → v1 (restore)', withData));
  console.log('  steps at the agent (median ms, those ≥ 10 ms):');
  for (const [label, s] of [['warm v2 → v1', warmBack], ['warm --to v2', warmForward], ['cold v2 → v1', coldBack], ['--with-data', withData]] as const) console.log(`    ${label.padEnd(14)} ${stepLine(s)}`);
  const warmWall = median([...warmBack.wall, ...warmForward.wall]);
  console.log(
    `container-rollback: warm, the command takes ${(warmWall / baseline).toFixed(2)}x a bare \`slipway status\` (target ≤ 2x) and the old release answers ${median([...warmBack.answered, ...warmForward.answered]).toFixed(0)} ms after it starts; ` +
      `cold ${(median(coldBack.wall) / baseline).toFixed(2)}x; --with-data ${(median(withData.wall) / baseline).toFixed(2)}x`,
  );
  // The bar: a warm rollback costs at most two bare CLI calls (the agent's part is a proxy switch).
  ok = warmWall / baseline <= 2;
  if (!ok) console.log(`container-rollback: MISSED the bar: a warm rollback takes ${(warmWall / baseline).toFixed(2)}x a bare status (target ≤ 2x)`);
} catch (error) {
  console.log(`container-rollback: FAILED: ${(error as Error).message}`);
} finally {
  for (const teardown of teardowns.reverse()) await teardown().catch((error) => console.error(`teardown: ${(error as Error).message}`));
}
process.exit(ok ? 0 : 1);
