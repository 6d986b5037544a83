import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createHostFixture, type HostFixture } from '../helpers/host-fixture.js';
import { FIXTURE_OPTIONS, runFaultColumn, sqliteSchema } from './fault-case.js';

// Fault matrix, column "agent SIGKILL" (DESIGN.md promise #3, "no half states"): the agent
// is killed right after each step of the update v1 → v2 did its work and before the
// journal recorded it, the worst moment to die. The next agent must leave the host on one
// complete release: serving, healthy, `current`, the ledger and the app agreeing, the data
// of that release (a rollback after the migration restores v1's data), no lock left, the
// deployment recorded with an outcome, no process of the dead agent left running, and a
// later deploy still works. (The agent is killed by the test while the pipeline's pause
// hook holds it at that moment; the rollback case uses the self-kill crash hook.)

it('recovers from the agent dying after every step of an update, and during a rollback', { timeout: 240_000 }, async (t) => {
  let base: HostFixture | undefined;
  await runFaultColumn(t, {
    column: 'agent-sigkill',
    fixture: async () => (base = await createHostFixture(t, { ...FIXTURE_OPTIONS, build: ['v1', 'v2'] })),
    spec: {
      pauseWhen: 'after',
      killsAgent: true,
      async inject(c) {
        c.agent.child.kill('SIGKILL');
        const death = await c.agent.exited;
        assert.equal(death.signal, 'SIGKILL');
      },
      schema: sqliteSchema,
      async more({ step, host, deployResult, result }) {
        assert.notEqual(deployResult.code, 0, `[${step}] deploy v2 fails when the agent dies:\n${deployResult.stderr}`);
        assert.match(deployResult.stderr, /agent (stopped|.*broke)/, `[${step}] the CLI says the agent stopped`);
        const status = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
        assert.equal(status.current?.id, host.currentId(), `[${step}] status --json agrees with current`);
        assert.equal(status.health, 'healthy', `[${step}] status health`);
        // A later deploy still works from the recovered state.
        if (result.served === 'v1') {
          const again = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
          assert.equal(again.code, 0, `[${step}] deploy v2 after the recovery: ${again.stderr}`);
          assert.equal((await host.get('/version')).body, 'v2');
        }
      },
    },
  });

  await t.test('a crash during a rollback keeps the previous release', { skip: !base }, async () => {
    const host = base!.freshHost('rollback-switch');
    const normal = await host.startAgent();
    for (const version of ['v1', 'v2']) assert.equal((await host.cli(['deploy', 'production', '--version', version, '--yes'])).code, 0);
    await normal.stop();
    // The agent kills itself after the switch step of the rollback did its work.
    const doomed = await host.startAgent({ env: { SLIPWAY_TEST_HOOKS: '1', SLIPWAY_TEST_CRASH_AT: 'switch' } });
    assert.notEqual((await host.cli(['rollback', 'production', '--yes'])).code, 0);
    assert.equal((await doomed.exited).signal, 'SIGKILL');
    const recovering = await host.startAgent();
    try {
      assert.equal((await host.get('/version')).body, 'v2', 'the interrupted rollback is undone: v2 serves');
      assert.deepEqual(host.ledgerState(), { currentId: host.releases.get('v2'), previousId: host.releases.get('v1') });
    } finally {
      await recovering.stop();
    }
  });
});
