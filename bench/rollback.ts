/**
 * How fast `slipway rollback` brings the previous release back: the CLI's wall time,
 * and the time until the old version answers /version through the proxy (polled every
 * 5 ms on its own connection while the CLI runs). Baselines from the same run: the
 * wall time of `slipway status` (what any CLI call costs) and of the forward deploy.
 *
 *   node dist/bench/rollback.js        (BENCH_RUNS=3)
 */
import http from 'node:http';
import { createHostFixture, type HostFixture } from '../test/helpers/host-fixture.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
const healthWindow = '1s';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** GET /version every 5 ms until it answers `want`; resolves with the ms since `t0`. */
function pollUntil(port: number, want: string, t0: number, stop: { stopped: boolean }): Promise<number | null> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const once = () =>
    new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/version', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
        res.on('error', () => resolve(''));
      });
      req.on('error', () => resolve(''));
    });
  return (async () => {
    try {
      while (!stop.stopped) {
        if ((await once()) === want) return performance.now() - t0;
        await new Promise((r) => setTimeout(r, 5));
      }
      return null;
    } finally {
      agent.destroy();
    }
  })();
}

async function timed(host: HostFixture, args: string[], expectVersion?: string): Promise<{ wallMs: number; answeredMs: number | null }> {
  const stop = { stopped: false };
  const t0 = performance.now();
  const answered = expectVersion ? pollUntil(host.port, expectVersion, t0, stop) : Promise.resolve(null);
  const result = await host.cli(args);
  const wallMs = performance.now() - t0;
  if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed:\n${result.stderr}`);
  const timer = setTimeout(() => (stop.stopped = true), 10_000);
  const answeredMs = await answered;
  clearTimeout(timer);
  stop.stopped = true;
  return { wallMs, answeredMs };
}

const teardowns: Array<() => Promise<void>> = [];
try {
  const host = await createHostFixture({ after: (fn) => teardowns.push(fn) }, { healthWindow, build: ['v1', 'v2'] });
  await host.startAgent();
  await timed(host, ['deploy', 'production', '--version', 'v1', '--yes']);
  await timed(host, ['deploy', 'production', '--version', 'v2', '--yes']);

  const status: number[] = [];
  const rollbackWall: number[] = [];
  const rollbackAnswered: number[] = [];
  const forwardWall: number[] = [];
  const forwardAnswered: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    status.push((await timed(host, ['status', 'production'])).wallMs);
    const back = await timed(host, ['rollback', 'production', '--yes'], 'v1');
    rollbackWall.push(back.wallMs);
    if (back.answeredMs !== null) rollbackAnswered.push(back.answeredMs);
    const forward = await timed(host, ['rollback', 'production', '--to', 'v2', '--yes'], 'v2');
    forwardWall.push(forward.wallMs);
    if (forward.answeredMs !== null) forwardAnswered.push(forward.answeredMs);
  }
  const f = (n: number) => `${n.toFixed(0)} ms`.padStart(9);
  console.log(`rollback: medians over ${runs} runs (health window ${healthWindow}, included in each CLI wall time)`);
  console.log(`  slipway status (baseline CLI call)    wall ${f(median(status))}`);
  console.log(`  slipway rollback (v2 → v1)            wall ${f(median(rollbackWall))}   v1 answers after ${f(median(rollbackAnswered))}`);
  console.log(`  slipway rollback --to v2 (v1 → v2)    wall ${f(median(forwardWall))}   v2 answers after ${f(median(forwardAnswered))}`);
  console.log(`rollback: old version answers at ${(median(rollbackAnswered) / median(rollbackWall) * 100).toFixed(0)}% of the CLI's wall time; ${(median(rollbackAnswered) / median(status)).toFixed(2)}x a bare \`slipway status\``);
} finally {
  for (const teardown of teardowns.reverse()) await teardown().catch((error) => console.error(`teardown: ${(error as Error).message}`));
}
