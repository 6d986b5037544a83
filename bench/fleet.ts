/**
 * Wall time of a 10-host rollout (auth + 9 apps that depend on it, each host a real
 * sshd on loopback with its own root and agent) with --parallel 1 and --parallel 5,
 * and their ratio. Each rollout checks and backs up every host, makes the release
 * available, then updates auth and the apps, each through its health window.
 * The --parallel 5 run goes first and also sends the release; the --parallel 1 run
 * finds it already on the hosts, so the ratio understates what parallelism saves.
 *
 *   node dist/bench/fleet.js        (needs root and sshd, as the tests do)
 */
import { createFleet } from '../test/helpers/fleet-fixture.js';
import { sshdUnavailableReason } from '../test/helpers/sshd.js';

const unavailable = sshdUnavailableReason();
if (unavailable) {
  console.log(`fleet: skipped: ${unavailable}`);
  process.exit(0);
}

const teardowns: Array<() => unknown> = [];
try {
  const apps = Array.from({ length: 9 }, (_, i) => ({ name: `app${i + 1}`, dependsOn: ['auth'] }));
  const fleet = await createFleet({ after: (fn) => teardowns.push(fn) }, [{ name: 'auth' }, ...apps], { healthWindow: '1s' });
  const run = async (args: string[]) => {
    const t0 = performance.now();
    const result = await fleet.cli(args, { timeoutMs: 900_000 });
    const ms = performance.now() - t0;
    if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
    return { ms, stdout: result.stdout };
  };
  const setup = await run(['setup', 'production']);
  await run(['deploy', 'production', '--version', 'v1', '--yes', '--parallel', '5']);
  const parallel5 = await run(['deploy', 'production', '--version', 'v2', '--yes', '--parallel', '5', '--json']);
  await run(['rollback', 'production', '--yes', '--with-data']);
  const parallel1 = await run(['deploy', 'production', '--version', 'v2', '--yes', '--parallel', '1', '--json']);
  const transfers = (stdout: string) => (JSON.parse(stdout) as { rows: { transfer?: string }[] }).rows.map((r) => r.transfer).join(',');
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`.padStart(8);
  console.log('fleet: 10 hosts (auth, then 9 apps depending on it), v1 → v2 with a migration, health window 1 s');
  console.log(`  slipway setup (ships the CLI to 10 hosts)   ${s(setup.ms)}`);
  console.log(`  deploy --parallel 5                          ${s(parallel5.ms)}   releases: ${new Set(transfers(parallel5.stdout).split(',')).size === 1 ? transfers(parallel5.stdout).split(',')[0] : transfers(parallel5.stdout)}`);
  console.log(`  deploy --parallel 1                          ${s(parallel1.ms)}   releases: ${new Set(transfers(parallel1.stdout).split(',')).size === 1 ? transfers(parallel1.stdout).split(',')[0] : transfers(parallel1.stdout)}`);
  console.log(`fleet: --parallel 5 takes ${(parallel5.ms / parallel1.ms).toFixed(2)}x the wall time of --parallel 1 (${(parallel1.ms / parallel5.ms).toFixed(2)}x faster)`);
} finally {
  for (const teardown of teardowns.reverse()) await Promise.resolve(teardown()).catch((error: unknown) => console.error(`teardown: ${(error as Error).message}`));
}
