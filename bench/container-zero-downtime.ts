/**
 * Failures seen by clients while slipway switches a container stack (the notes app as web +
 * worker containers, PostgreSQL as an accessory) v1 → v2 (a release with a migration: writes
 * are held while it runs), then rolls back v2 → v1, under steady load through its proxy:
 * several keep-alive clients reading and writing. The bar is 0 failed requests (connection
 * errors, or answers outside 2xx other than a write refused with 503 during maintenance).
 * The baseline is the same load before the deploy, measured in the same run.
 *
 *   node dist/bench/container-zero-downtime.js        (BENCH_CLIENTS=8)
 */
import { notesTraffic, percentile, startLoad, type LoadSample } from '../test/helpers/load.js';
import { containerSkipReason, createContainerStack, type ContainerStack } from './container-stack.js';

const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const baselineMs = 3_000;
const settleMs = 2_000;

const skip = containerSkipReason();
if (skip !== null) {
  console.log(`container-zero-downtime: SKIPPED: needs a Docker engine and PostgreSQL binaries: ${skip}`);
  process.exit(0);
}

/** Runs the command under load; the moments (ms on the load's time line) it started, printed each pattern, and ended. */
async function timedUnderLoad(stack: ContainerStack, now: () => number, args: string[], stamps: Record<string, RegExp>): Promise<{ marks: Record<string, number>; output: string }> {
  const marks: Record<string, number> = { start: now() };
  const running = stack.spawnCli(args);
  for (const [name, pattern] of Object.entries(stamps)) void running.waitFor(pattern).then(() => (marks[name] = now()), () => undefined);
  const result = await running.result;
  marks.end = now();
  if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed (${result.code}):\n${result.stdout}${result.stderr}`);
  return { marks, output: result.stdout + result.stderr };
}

let failedTotal = 0;
const teardowns: Array<() => Promise<void>> = [];
try {
  const stack = await createContainerStack({ after: (fn) => teardowns.push(fn) }, { build: ['v1', 'v2'], healthWindow: '2s', standby: '10m' });
  await stack.must(['accessory', 'start', 'production']);
  await stack.startAgent();
  await stack.must(['deploy', 'production', '--version', 'v1', '--yes']);

  const load = startLoad({ port: stack.port, clients, maxDurationMs: 600_000, nextRequest: notesTraffic({ writeEvery: 8, tag: 'bench' }) });
  await new Promise((r) => setTimeout(r, 500 + baselineMs));
  const deploy = await timedUnderLoad(stack, load.now, ['deploy', 'production', '--version', 'v2', '--yes'], { maintenanceOn: /✓ backup/, switched: /✓ switch/ });
  const onV2 = (await stack.get('/version')).body.trim();
  await new Promise((r) => setTimeout(r, settleMs));
  const rollback = await timedUnderLoad(stack, load.now, ['rollback', 'production', '--yes'], { switched: /✓ switch/ });
  const onV1 = (await stack.get('/version')).body.trim();
  await new Promise((r) => setTimeout(r, settleMs));
  const report = await load.stop();
  if (onV2 !== 'v2' || onV1 !== 'v1') throw new Error(`/version answered ${JSON.stringify(onV2)} after the deploy and ${JSON.stringify(onV1)} after the rollback; expected v2, then v1`);
  const how = /warm in slot|cold start/.exec(rollback.output)?.[0] ?? 'started';
  const d = deploy.marks;
  const r = rollback.marks;

  // A write refused with 503 while writes are held is the answer the app's clients are told to expect (Retry-After).
  const expected = (s: LoadSample) => s.status === 503 && s.request.method === 'POST' && d.maintenanceOn !== undefined && d.switched !== undefined && s.startMs < d.switched && s.startMs + s.ms > d.maintenanceOn;
  const failed = (s: LoadSample) => (s.status < 200 || s.status > 299) && !expected(s);
  const phases: Array<[string, (s: LoadSample) => boolean]> = [
    [`before (baseline, last ${baselineMs / 1000} s)`, (s) => s.startMs >= d.start! - baselineMs && s.startMs < d.start!],
    ['deploy v2 (start → exit)', (s) => s.startMs >= d.start! && s.startMs < d.end!],
    ['  writes held (backup → switch)', (s) => s.request.method === 'POST' && d.maintenanceOn !== undefined && d.switched !== undefined && s.startMs < d.switched && s.startMs + s.ms > d.maintenanceOn],
    ['  around the switch (±250 ms)', (s) => d.switched !== undefined && Math.abs(s.startMs - d.switched) <= 250],
    ['between (v2 serving)', (s) => s.startMs >= d.end! && s.startMs < r.start!],
    ['rollback v2 → v1 (start → exit)', (s) => s.startMs >= r.start! && s.startMs < r.end!],
    ['  around the switch (±250 ms)', (s) => r.switched !== undefined && Math.abs(s.startMs - r.switched) <= 250],
    [`after (${settleMs / 1000} s)`, (s) => s.startMs >= r.end!],
  ];
  const fmt = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(1));
  console.log(`container-zero-downtime: ${clients} keep-alive clients, GET / and /api/notes, 1 in 8 a POST; container stack (web, worker, PostgreSQL accessory) v1 → v2 (migration) → rollback to v1, through slipway's proxy; timings on a shared 2-core machine`);
  console.log(`${'phase'.padEnd(36)}${'requests'.padStart(9)}${'failed'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'write p50'.padStart(11)}`);
  for (const [name, pick] of phases) {
    const samples = report.samples.filter(pick);
    const ms = samples.map((s) => s.ms);
    const writes = samples.filter((s) => s.request.method === 'POST').map((s) => s.ms);
    console.log(
      `${name.padEnd(36)}${String(samples.length).padStart(9)}${String(samples.filter(failed).length).padStart(8)}${fmt(percentile(ms, 50)).padStart(9)}${fmt(percentile(ms, 99)).padStart(9)}${fmt(ms.length ? Math.max(...ms) : NaN).padStart(9)}${fmt(percentile(writes, 50)).padStart(11)}`,
    );
  }
  const secs = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '-' : `${((b - a) / 1000).toFixed(2)} s`);
  console.log(`container-zero-downtime: deploy v2 took ${secs(d.start, d.end)} (switch ${secs(d.start, d.switched)} after its start; writes held ${secs(d.maintenanceOn, d.switched)}); rollback (${how}) took ${secs(r.start, r.end)} (switch ${secs(r.start, r.switched)} after its start)`);
  failedTotal = report.samples.filter(failed).length;
  const refused = report.samples.filter(expected).length;
  console.log(`container-zero-downtime: ${report.sent} requests made, ${report.connectionErrors} connection errors, ${report.non2xx} non-2xx (${refused} of them writes refused with 503 while held); ${failedTotal} failed (bar: 0)`);
  for (const message of report.errorMessages) console.log(`  ${message}`);
  const before = report.samples.filter(phases[0]![1]).map((s) => s.ms);
  const during = report.samples.filter((s) => phases[1]![1](s) || phases[5]![1](s)).map((s) => s.ms);
  console.log(`container-zero-downtime: p99 during the deploy and the rollback / p99 before = ${(percentile(during, 99) / percentile(before, 99)).toFixed(2)}x`);
} catch (error) {
  console.log(`container-zero-downtime: FAILED: ${(error as Error).message}`);
  failedTotal = -1;
} finally {
  for (const teardown of teardowns.reverse()) await teardown().catch((error) => console.error(`teardown: ${(error as Error).message}`));
}
process.exit(failedTotal === 0 ? 0 : 1);
