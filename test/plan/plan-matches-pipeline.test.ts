/**
 * `slipway plan` against what the pipeline then does, on a real host with the notes example:
 * its first deploy (v1) migrates the empty database, and v1 → v2 migrates again.
 * Each step the plan says will run is recorded as done; each it says is skipped, as skipped.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { PlannedStep, UpdatePlan } from '../../src/plan/plan.js';
import { createDataFixture, describe, json } from '../helpers/data-fixture.js';

interface HistoryEntry {
  to: string | null;
  kind: string;
  outcome: string | null;
  steps: Array<{ name: string; outcome: string | null }>;
}

it('the plan of a first deploy and of an upgrade is what the pipeline does, step by step', { timeout: 150_000 }, async (t) => {
  const fx = await createDataFixture(t);
  await fx.startAgent();
  const app = fx.app();

  const agree = (plan: UpdatePlan, deployed: HistoryEntry) => {
    const planned = plan.pipeline.map((s: PlannedStep) => [s.step, s.runs ? 'done' : 'skipped']);
    const recorded = deployed.steps.map((s) => [s.name, s.outcome]);
    assert.deepEqual(recorded, planned, `plan:\n${plan.steps.join('\n')}`);
  };

  const firstPlan = json<UpdatePlan>(await fx.cli(['plan', 'production', '--version', 'v1', '--json']));
  assert.equal(firstPlan.direction, 'first');
  assert.equal(firstPlan.migrations.runs, true, 'the notes app migrates from its first release on');
  assert.equal(firstPlan.downtime, 'none');
  // Until the switch, the proxy has nothing to send requests to.
  assert.equal((await app.request('GET', '/')).status, 503);

  const first = await fx.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(first.code, 0, describe(first));
  assert.match(first.stderr, /migrations {2}`node migrate.js` runs before v1 starts/, 'deploy shows the same plan');
  assert.doesNotMatch(first.stderr, /no migration: blue\/green/);
  assert.match(first.stderr, /migrate: applied 1/, 'the migration ran');
  const [deployedV1] = json<HistoryEntry[]>(await fx.cli(['history', 'production', '--json']));
  assert.equal(deployedV1?.to, 'v1');
  agree(firstPlan, deployedV1!);
  assert.equal((await app.request('GET', '/healthz')).status, 200);

  const upgradePlan = json<UpdatePlan>(await fx.cli(['plan', 'production', '--version', 'v2', '--json']));
  assert.equal(upgradePlan.downtime, 'maintenance-window');
  const upgrade = await fx.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  assert.equal(upgrade.code, 0, describe(upgrade));
  const [deployedV2] = json<HistoryEntry[]>(await fx.cli(['history', 'production', '--json']));
  assert.equal(deployedV2?.to, 'v2');
  agree(upgradePlan, deployedV2!);
});
