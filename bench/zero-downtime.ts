/**
 * Latency and failures seen by clients while slipway switches v1 → v2 (a release
 * with a migration: writes are held while it runs) under steady load through its
 * proxy. The baseline is the same load before the deploy, measured in the same run.
 *
 *   node dist/bench/zero-downtime.js        (BENCH_CLIENTS=8, BENCH_SECONDS=30)
 */
import { createHostFixture } from '../test/helpers/host-fixture.js';
import { notesTraffic, percentile, startLoad, type LoadSample } from '../test/helpers/load.js';

const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const maxSeconds = Number(process.env.BENCH_SECONDS ?? 30);
const baselineMs = 3_000;

const teardowns: Array<() => Promise<void>> = [];
try {
  const host = await createHostFixture({ after: (fn) => teardowns.push(fn) }, { healthWindow: '1s', drainTimeout: '5s', build: ['v1', 'v2'] });
  await host.startAgent();
  const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  if (v1.code !== 0) throw new Error(`deploy v1 failed:\n${v1.stderr}`);

  const load = startLoad({ port: host.port, clients, maxDurationMs: maxSeconds * 1000, nextRequest: notesTraffic({ writeEvery: 8, tag: 'bench' }) });
  // Warm-up, then the baseline window, then the deploy.
  await new Promise((r) => setTimeout(r, 500 + baselineMs));
  const marks: Record<string, number> = { deployStart: load.now() };
  const deploy = host.spawnCli(['deploy', 'production', '--version', 'v2', '--yes']);
  const stamp = (name: string, pattern: RegExp) => deploy.waitFor(pattern).then(() => (marks[name] = load.now()), () => undefined);
  void stamp('maintenanceOn', /✓ backup/); // writes are held from the pre-update snapshot on
  void stamp('switched', /✓ switch/);
  const result = await deploy.result;
  marks.deployEnd = load.now();
  if (result.code !== 0) throw new Error(`deploy v2 failed:\n${result.stderr}`);
  await new Promise((r) => setTimeout(r, 2_000));
  const report = await load.stop();

  const phases: Array<[string, (s: LoadSample) => boolean]> = [
    [`before (baseline, last ${baselineMs / 1000} s)`, (s) => s.startMs >= marks.deployStart! - baselineMs && s.startMs < marks.deployStart!],
    ['during the deploy (start → exit)', (s) => s.startMs >= marks.deployStart! && s.startMs < marks.deployEnd!],
    // Writes still waiting when the snapshot finished, answered once the new release took over.
    ['  writes held (over the backup → switch)', (s) => s.request.method === 'POST' && marks.maintenanceOn !== undefined && marks.switched !== undefined && s.startMs < marks.switched && s.startMs + s.ms > marks.maintenanceOn],
    ['  around the switch (±250 ms)', (s) => marks.switched !== undefined && Math.abs(s.startMs - marks.switched) <= 250],
    ['after (2 s)', (s) => s.startMs >= marks.deployEnd!],
  ];
  const fmt = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(1));
  console.log(`zero-downtime: ${clients} keep-alive clients, GET / and /api/notes, 1 in 8 a POST; v1 → v2 (migration) through slipway's proxy`);
  console.log(`${'phase'.padEnd(40)}${'requests'.padStart(9)}${'failed'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'write p50'.padStart(11)}`);
  for (const [name, pick] of phases) {
    const samples = report.samples.filter(pick);
    const failed = samples.filter((s) => s.status < 200 || s.status > 299).length;
    const ms = samples.map((s) => s.ms);
    const writes = samples.filter((s) => s.request.method === 'POST').map((s) => s.ms);
    console.log(
      `${name.padEnd(40)}${String(samples.length).padStart(9)}${String(failed).padStart(8)}${fmt(percentile(ms, 50)).padStart(9)}${fmt(percentile(ms, 99)).padStart(9)}${fmt(ms.length ? Math.max(...ms) : NaN).padStart(9)}${fmt(percentile(writes, 50)).padStart(11)}`,
    );
  }
  const deployMs = marks.deployEnd! - marks.deployStart!;
  console.log(`zero-downtime: ${report.sent} requests sent, ${report.connectionErrors} connection errors, ${report.non2xx} non-2xx; deploy took ${(deployMs / 1000).toFixed(2)} s (1 s health window included)`);
  const before = report.samples.filter(phases[0]![1]).map((s) => s.ms);
  const during = report.samples.filter(phases[1]![1]).map((s) => s.ms);
  console.log(`zero-downtime: p99 during the deploy / p99 before = ${(percentile(during, 99) / percentile(before, 99)).toFixed(2)}x`);
} finally {
  for (const teardown of teardowns.reverse()) await teardown().catch((error) => console.error(`teardown: ${(error as Error).message}`));
}
