import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PIPELINE_STEPS } from '../../src/config/types.js';
import { appNoteColumns, createHostFixture, processesUnder } from '../helpers/host-fixture.js';

// DESIGN.md promise #3, "no half states": the agent is killed (SIGKILL) right after
// each step of the update v1 → v2 did its work and before the journal recorded it.
// The next agent must leave the host on one complete release: serving, healthy,
// `current`, the ledger and the app agreeing, no lock left behind, the deployment
// recorded with an outcome, and no process of the dead agent left running.
// The table it prints also shows the database's schema after the recovery.

it('recovers from the agent dying after every step of an update', { timeout: 240_000 }, async (t) => {
  const base = await createHostFixture(t, { healthWindow: '300ms', build: ['v1', 'v2'] });
  const table: string[] = [];
  /** rolled back to v1 while the database keeps v2's migration: code and data do not match */
  const mixed: string[] = [];

  for (const step of PIPELINE_STEPS) {
    const host = base.freshHost(step);
    const normal = await host.startAgent();
    const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
    assert.equal(v1.code, 0, `[${step}] deploy v1: ${v1.stderr}`);
    await normal.stop();

    const doomed = await host.startAgent({ env: { SLIPWAY_TEST_HOOKS: '1', SLIPWAY_TEST_CRASH_AT: step } });
    const v2 = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
    const death = await Promise.race([doomed.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000))]);
    assert.ok(death, `[${step}] the agent did not kill itself; deploy v2 said (${v2.code}):\n${v2.stderr}\nthe agent said:\n${doomed.output()}`);
    assert.equal(death.signal, 'SIGKILL', `[${step}] the agent killed itself after ${step}`);
    assert.notEqual(v2.code, 0, `[${step}] deploy v2 must fail when the agent dies:\n${v2.stderr}`);
    assert.match(v2.stderr, /agent (stopped|.*broke)/, `[${step}] the CLI says the agent stopped:\n${v2.stderr}`);

    const recovering = await host.startAgent();
    const context = () => `[${step}] agent output:\n${recovering.output()}`;

    const healthz = await host.get('/healthz');
    assert.equal(healthz.status, 200, `${context()}\n/healthz: ${healthz.status} ${healthz.body}`);
    const currentId = host.currentId();
    assert.ok(currentId, `[${step}] current points at a release`);
    const servedVersion = (await host.get('/version')).body;
    const currentVersion = [...host.releases].find(([, id]) => id === currentId)?.[0];
    assert.equal(servedVersion, currentVersion, `${context()}\nthe proxy serves the release current points at`);
    assert.equal(host.ledgerState().currentId, currentId, `[${step}] the ledger agrees with current`);

    const status = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
    assert.equal(status.current?.id, currentId, `[${step}] status --json agrees with current`);
    assert.equal(status.health, 'healthy', `[${step}] status health`);

    const lock = JSON.parse((await host.cli(['lock', 'status', '--json'])).stdout);
    assert.equal(lock.held, false, `[${step}] no lock is left: ${JSON.stringify(lock)}`);

    const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as { to: string; outcome: string | null; finishedAt: string | null }[];
    const interrupted = history.find((d) => d.to === 'v2');
    assert.ok(interrupted, `[${step}] history lists the interrupted deployment: ${JSON.stringify(history)}`);
    assert.ok(interrupted.outcome === 'rolled-back' || interrupted.outcome === 'succeeded', `[${step}] it has an outcome: ${JSON.stringify(interrupted)}`);
    assert.ok(interrupted.finishedAt, `[${step}] it is finished`);
    const expected = interrupted.outcome === 'succeeded' ? 'v2' : 'v1';
    assert.equal(servedVersion, expected, `[${step}] outcome ${interrupted.outcome} matches what serves`);

    const write = await host.request('POST', '/api/notes', { body: JSON.stringify({ text: `after a crash at ${step}` }) });
    assert.equal(write.status, 201, `[${step}] the recovered app takes writes: ${write.body}`);
    const schema = appNoteColumns(host.hostRoot).includes('words') ? 'v2 schema (migrated)' : 'v1 schema';
    if (servedVersion === 'v1' && schema !== 'v1 schema') mixed.push(step);

    // A later deploy still works from the recovered state.
    if (servedVersion === 'v1') {
      const again = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
      assert.equal(again.code, 0, `[${step}] deploy v2 after the recovery: ${again.stderr}`);
      assert.equal((await host.get('/version')).body, 'v2');
    }

    await recovering.stop();
    const left = processesUnder(base.dir);
    assert.deepEqual(left, [], `[${step}] nothing runs after the agent stopped (orphans of the killed agent?)`);
    table.push(`${step.padEnd(12)} ${interrupted.outcome === 'succeeded' ? 'rolled forward' : 'rolled back   '}  serving ${servedVersion}  data: ${schema}`);
    process.stderr.write(`crash after ${step}: ${interrupted.outcome}, serving ${servedVersion}\n`);
  }

  console.log(`crash recovery, agent killed after step → outcome\n${table.map((l) => `  ${l}`).join('\n')}`);

  await t.test('a crash after the migration, rolled back, restores the data of the release it goes back to', () => {
    assert.deepEqual(mixed, [], `after a crash at these steps v1 serves on v2's migrated schema: ${mixed.join(', ')}`);
  });

  await t.test('a crash during a rollback keeps the previous release', async () => {
    const host = base.freshHost('rollback-switch');
    const normal = await host.startAgent();
    for (const version of ['v1', 'v2']) assert.equal((await host.cli(['deploy', 'production', '--version', version, '--yes'])).code, 0);
    await normal.stop();
    const doomed = await host.startAgent({ env: { SLIPWAY_TEST_HOOKS: '1', SLIPWAY_TEST_CRASH_AT: 'switch' } });
    assert.notEqual((await host.cli(['rollback', 'production', '--yes'])).code, 0);
    await doomed.exited;
    const recovering = await host.startAgent();
    try {
      assert.equal((await host.get('/version')).body, 'v2', 'the interrupted rollback is undone: v2 serves');
      assert.deepEqual(host.ledgerState(), { currentId: host.releases.get('v2'), previousId: host.releases.get('v1') });
    } finally {
      await recovering.stop();
    }
  });
});
