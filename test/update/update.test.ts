/**
 * The update's steps against a fake runtime on a real host state (layout, ledger, journal,
 * store, backups of a real folder): what the plan says each step does is what it does, a
 * failed update is undone by the steps' own undo, and crash recovery rebuilds the update
 * from the journal and runs the same undos.
 */
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { backupUndoing } from '../../src/data/index.js';
import { recoverUnfinishedUpdate } from '../../src/update/recovery.js';
import { runUpdate, type UpdateEvent, type UpdateOutcome, type UpdateRequest } from '../../src/update/run-update.js';
import { planForUpdate } from '../../src/update/plan-update.js';
import type { UpdateContext } from '../../src/update/context.js';
import type { PipelineFaults } from '../../src/update/pipeline.js';
import { MaintenanceWindow } from '../../src/update/maintenance-window.js';
import { createUpdateFixture, type UpdateFixture } from './update-fixture.js';

const NO_SIGNATURES = { required: false, publicKeysPem: [] };

async function update(f: UpdateFixture, kind: 'deploy' | 'rollback', request: UpdateRequest, faults?: PipelineFaults): Promise<UpdateOutcome & { events: UpdateEvent[] }> {
  const events: UpdateEvent[] = [];
  const outcome = await runUpdate({ host: f.host, kind, request, signatures: NO_SIGNATURES, emit: (e) => events.push(e), ...(faults ? { faults } : {}) });
  return { ...outcome, events };
}

/** What each step did: "done" or "skipped", from the ledger's record of the deployment. */
function stepOutcomes(f: UpdateFixture, deploymentId: number): Record<string, string | null> {
  return Object.fromEntries(f.ledger.getDeployment(deploymentId)!.steps.map((s) => [s.name, s.outcome]));
}

/** The plan the steps describe for an update from `from` to `to`, as `slipway plan` would print it. */
async function planned(f: UpdateFixture, kind: 'deploy' | 'rollback', from: 'v1' | 'v2' | null, to: 'v1' | 'v2' | 'v3', restore = false): Promise<Record<string, string>> {
  const ctx = {
    ...f.host,
    kind,
    allowOlder: kind === 'rollback',
    from: from ? f.releases[from] : null,
    to: f.releases[to],
    ...(restore ? { restore: { backupId: 'x' } } : {}),
  } as unknown as UpdateContext;
  const plan = await planForUpdate(ctx);
  return Object.fromEntries(plan.pipeline.map((s) => [s.step, s.runs ? 'done' : 'skipped']));
}

const currentTarget = (f: UpdateFixture) => path.basename(readlinkSync(f.layout.currentLink));

test('for each kind of update, the plan says what the steps do', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2, v3 } = f.releases;
  f.writeState('v1 data');
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));

  const planFirst = await planned(f, 'deploy', null, 'v1');
  const first = await update(f, 'deploy', { releaseId: v1.id });
  assert.equal(first.ok, true, first.error?.message);
  assert.deepEqual(stepOutcomes(f, first.deploymentId), planFirst, 'first deploy');

  const planMigrating = await planned(f, 'deploy', 'v1', 'v2');
  const migrating = await update(f, 'deploy', { releaseId: v2.id });
  assert.equal(migrating.ok, true, migrating.error?.message);
  assert.deepEqual(stepOutcomes(f, migrating.deploymentId), planMigrating, 'upgrade with a migration');
  assert.equal(planMigrating.maintenance, 'done');
  assert.equal(f.readState(), 'v2 data');

  const planPlain = await planned(f, 'deploy', 'v2', 'v3');
  const plain = await update(f, 'deploy', { releaseId: v3.id });
  assert.equal(plain.ok, true, plain.error?.message);
  assert.deepEqual(stepOutcomes(f, plain.deploymentId), planPlain, 'upgrade without a migration');
  assert.equal(planPlain.maintenance, 'skipped');

  const planRollback = await planned(f, 'rollback', 'v2', 'v1');
  // From v3 to v2: a code rollback (taken warm from standby here).
  const rollback = await update(f, 'rollback', { releaseId: v2.id });
  assert.equal(rollback.ok, true, rollback.error?.message);
  assert.deepEqual(Object.values(stepOutcomes(f, rollback.deploymentId)).filter((o) => o === 'skipped').length, Object.values(planRollback).filter((o) => o === 'skipped').length + 1, 'a warm release also skips its health window');
  assert.equal(stepOutcomes(f, rollback.deploymentId).backup, planRollback.backup);
  assert.equal(stepOutcomes(f, rollback.deploymentId).migrate, planRollback.migrate);

  // rollback --with-data: the v1 → v2 update undone, code and data.
  const undo = backupUndoing(f.ledger, f.ledger.getDeployment(migrating.deploymentId)!)!;
  assert.ok(undo, 'the v1 → v2 update took a backup before it migrated');
  const planWithData = await planned(f, 'rollback', 'v2', 'v1', true);
  const withData = await update(f, 'rollback', { releaseId: v1.id, restoreBackupId: undo.id, recordAs: 'rollback-with-data' });
  assert.equal(withData.ok, true, withData.error?.message);
  assert.deepEqual(stepOutcomes(f, withData.deploymentId), planWithData, 'rollback with data');
  assert.equal(f.readState(), 'v1 data', 'the data is back as v1 left it');
  assert.equal(currentTarget(f), v1.id);
});

test('a failed migration is undone: the backup taken first is restored, the old release serves, maintenance is off', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2 } = f.releases;
  f.writeState('v1 data');
  assert.equal((await update(f, 'deploy', { releaseId: v1.id })).ok, true);
  f.runtime.commands.set('migrate v2', () => {
    f.writeState('half migrated');
    throw new Error('the migration broke');
  });
  const failed = await update(f, 'deploy', { releaseId: v2.id });
  assert.equal(failed.ok, false);
  assert.deepEqual(failed.undoFailures, []);
  assert.equal(f.readState(), 'v1 data');
  assert.equal(f.runtime.active()?.version, 'v1');
  assert.deepEqual(f.runtime.maintenance(), { mode: 'off' });
  assert.equal(f.ledger.getState().currentId, v1.id);
  assert.equal(f.ledger.getDeployment(failed.deploymentId)!.outcome, 'rolled-back');
  const undone = failed.events.filter((e) => e.type === 'undo').map((e) => (e as { name: string }).name);
  assert.deepEqual(undone, ['migrate', 'maintenance', 'backup', 'lock'], 'undone in reverse, from the failed step on');
});

test('a release failing its health window is switched back, and its data restored', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));
  f.runtime.failsHealthWindow.add('v2');
  const failed = await update(f, 'deploy', { releaseId: v2.id });
  assert.equal(failed.ok, false);
  assert.equal(failed.error?.code, 'HEALTH_WINDOW_FAILED');
  assert.equal(f.readState(), 'v1 data');
  assert.equal(currentTarget(f), v1.id);
  assert.equal(f.runtime.active()?.version, 'v1');
  assert.deepEqual(f.runtime.runningVersions(), ['v1'], 'v2 stopped, v1 restarted on its restored data');
});

/** Runs the update until `step` did its work, then abandons it there: the agent died before the journal recorded the step's end. */
async function crashAfter(f: UpdateFixture, request: UpdateRequest, step: string): Promise<void> {
  let reached: () => void;
  const atCrash = new Promise<void>((resolve) => (reached = resolve));
  const faults: PipelineFaults = {
    before: async () => {},
    after: async (name) => {
      if (name !== step) return;
      reached();
      await new Promise(() => {}); // never resumes: the process is gone
    },
  };
  void update(f, 'deploy', request, faults);
  await atCrash;
}

test('recovery after a crash mid-migration: the update is rebuilt from the journal and undone by the steps, data included', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));
  await crashAfter(f, { releaseId: v2.id }, 'migrate');
  assert.equal(f.readState(), 'v2 data');

  const after = f.reopen();
  const lines: string[] = [];
  const report = await recoverUnfinishedUpdate(after.host, (line) => lines.push(line));
  assert.equal(report?.outcome, 'rolled-back');
  assert.match(report!.message, /stopped during "migrate" of the update to v2: rolled back to v1, restored backup/);
  assert.equal(after.readState(), 'v1 data', 'the migrated data is replaced by the backup taken before it');
  assert.equal(after.ledger.getState().currentId, v1.id);
  assert.deepEqual(after.runtime.calls, ['start v1', 'activate v1'], 'v1 starts on its restored data');
  const journal = await after.host.journal.entriesFor(report!.deploymentId);
  const undone = journal.filter((e) => e.phase === 'undo-end').map((e) => e.step);
  assert.deepEqual(undone, ['migrate', 'maintenance', 'backup', 'lock'], 'the begun steps, undone in reverse');
  assert.equal(await recoverUnfinishedUpdate(after.reopen().host, () => {}), null, 'nothing left to recover');
});

test('recovery after a crash past the switch puts current and the previous release back', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2, v3 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  await update(f, 'deploy', { releaseId: v3.id });
  assert.equal(f.ledger.getState().previousId, v1.id);
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));
  await crashAfter(f, { releaseId: v2.id, allowOlder: true }, 'switch');
  assert.equal(currentTarget(f), v2.id);

  const after = f.reopen();
  const report = await recoverUnfinishedUpdate(after.host, () => {});
  assert.equal(report?.outcome, 'rolled-back');
  assert.equal(currentTarget(after), v3.id);
  assert.equal(after.ledger.getState().currentId, v3.id);
  assert.equal(after.ledger.getState().previousId, v1.id, "the previous release from before the update, from the switch step's facts");
  assert.equal(after.readState(), 'v1 data', 'the data from before the migration');
  // v2 may have answered (the switch began, its end never came): what it may have written is kept first.
  const kept = after.ledger.listBackups().filter((b) => b.reason === 'pre-restore');
  assert.equal(kept.length, 1, `the data v2 left is backed up before the restore: ${JSON.stringify(after.ledger.listBackups())}`);
});

test("recovery after a crash before the switch began keeps no copy of the data: the new release never answered", async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));
  await crashAfter(f, { releaseId: v2.id }, 'start');
  const after = f.reopen();
  const report = await recoverUnfinishedUpdate(after.host, () => {});
  assert.equal(report?.outcome, 'rolled-back');
  assert.equal(after.readState(), 'v1 data');
  assert.deepEqual(after.ledger.listBackups().filter((b) => b.reason === 'pre-restore'), []);
});

test('recovery after the health window passed (a crash in finish) completes the update', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v3 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  await crashAfter(f, { releaseId: v3.id }, 'finish');
  const after = f.reopen();
  const report = await recoverUnfinishedUpdate(after.host, () => {});
  assert.equal(report?.outcome, 'rolled-forward');
  assert.equal(currentTarget(after), v3.id);
  assert.equal(after.ledger.getDeployment(report!.deploymentId)!.outcome, 'succeeded');
});

test("the maintenance window leaves an operator's mode on, and puts back the mode from before the update", () => {
  const set: string[] = [];
  let mode: { mode: 'off' } | { mode: 'refuse' } | { mode: 'hold'; holdMs: number } = { mode: 'off' };
  const runtime = { maintenance: () => mode, setMaintenance: (m: typeof mode) => ((mode = m), set.push(m.mode)) };
  const ours = new MaintenanceWindow(runtime as never);
  assert.equal(ours.holdWrites(), true);
  assert.equal(ours.isHolding(), true);
  ours.end();
  assert.deepEqual(mode, { mode: 'off' });

  mode = { mode: 'refuse' };
  const operators = new MaintenanceWindow(runtime as never);
  assert.equal(operators.holdWrites(), false, "an operator's maintenance stays as it is");
  assert.deepEqual(operators.operatorsMode(), { mode: 'refuse' });
  operators.hold('all');
  operators.end();
  assert.deepEqual(mode, { mode: 'refuse' }, 'an undo that held requests puts the operator\'s mode back');
});
