/**
 * Issue 17: a fleet rollout backs every host up before any host changes, then hands each
 * host's update that backup (request.rolloutBackupId). The backup step uses it as the
 * update's own when it fits (no second backup), and takes a fresh one, saying why, when it
 * does not. When the update changes data, "fits" includes "the data is still what the backup
 * holds", compared with writes held: an undo that restores it must not lose a write.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { backupBeforeDeployment, backupUndoing, createBackup, type BackupRecord } from '../../src/data/index.js';
import { recoverUnfinishedUpdate } from '../../src/update/recovery.js';
import { runUpdate, type UpdateEvent, type UpdateOutcome, type UpdateRequest } from '../../src/update/run-update.js';
import type { PipelineFaults } from '../../src/update/pipeline.js';
import { ROLLOUT_BACKUP_MAX_AGE_MS } from '../../src/update/steps/backup.js';
import { createUpdateFixture, type UpdateFixture } from './update-fixture.js';

const NO_SIGNATURES = { required: false, publicKeysPem: [] };

async function update(f: UpdateFixture, kind: 'deploy' | 'rollback', request: UpdateRequest, faults?: PipelineFaults): Promise<UpdateOutcome & { events: UpdateEvent[] }> {
  const events: UpdateEvent[] = [];
  const outcome = await runUpdate({ host: f.host, kind, request, signatures: NO_SIGNATURES, emit: (e) => events.push(e), ...(faults ? { faults } : {}) });
  return { ...outcome, events };
}

/** What a rollout's first stage leaves on a host: `slipway backup <env> --reason pre-deploy` of the release serving. */
async function rolloutBackup(f: UpdateFixture, version: 'v1' | 'v2'): Promise<BackupRecord> {
  const release = f.releases[version];
  return createBackup({ layout: f.layout, ledger: f.ledger, environment: 'production', data: release.manifest.runtime.data, env: {}, releaseId: release.id, releaseVersion: version, reason: 'pre-deploy' });
}

function backupStepDetail(f: UpdateFixture, deploymentId: number): string {
  return f.ledger.getDeployment(deploymentId)!.steps.find((s) => s.name === 'backup')!.detail ?? '';
}

const preDeployBackups = (f: UpdateFixture) => f.ledger.listBackups().filter((b) => b.reason === 'pre-deploy');

test('a migrating update uses the rollout backup as its own when the data is unchanged: no second backup, undo, recovery and rollback --with-data find it', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2 } = f.releases;
  f.writeState('v1 data');
  assert.equal((await update(f, 'deploy', { releaseId: v1.id })).ok, true);
  const taken = await rolloutBackup(f, 'v1');
  const before = f.ledger.listBackups().length;
  const folderBefore = readdirSync(f.layout.backupsDir).length;

  // 1. The migration fails: the undo restores the rollout's backup (it is this update's backup).
  f.runtime.commands.set('migrate v2', () => {
    f.writeState('half migrated');
    throw new Error('the migration broke');
  });
  const failed = await update(f, 'deploy', { releaseId: v2.id, rolloutBackupId: taken.id });
  assert.equal(failed.ok, false);
  assert.match(backupStepDetail(f, failed.deploymentId), new RegExp(`^backup ${taken.id} taken at the start of the rollout \\(\\d+ s ago\\); the data is unchanged since \\(compared with writes held\\)$`));
  assert.equal(f.readState(), 'v1 data', 'the undo restored the backup the rollout took');
  assert.equal(f.ledger.listBackups().length, before, 'no backup taken by the update');
  assert.equal(readdirSync(f.layout.backupsDir).length, folderBefore, 'and none on disk');
  assert.equal(backupUndoing(f.ledger, { id: failed.deploymentId, fromId: v1.id })?.id, taken.id);
  const facts = (await f.host.journal.entriesFor(failed.deploymentId)).filter((e) => e.step === 'backup' && e.data);
  assert.ok(facts.length > 0 && facts.every((e) => e.data!.backupId === taken.id), JSON.stringify(facts));

  // 2. Offered again: it is claimed by an update already, so it is refused.
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));
  const again = await update(f, 'deploy', { releaseId: v2.id, rolloutBackupId: taken.id });
  assert.equal(again.ok, true);
  assert.match(backupStepDetail(f, again.deploymentId), new RegExp(`; backup ${taken.id} taken at the start of the rollout not used: it already belongs to update #${failed.deploymentId}$`));

  // 3. rollback --with-data of a deploy that used a rollout backup restores that one.
  assert.equal((await update(f, 'rollback', { releaseId: v1.id })).ok, true);
  f.writeState('v1 data again');
  const second = await rolloutBackup(f, 'v1');
  const ok = await update(f, 'deploy', { releaseId: v2.id, rolloutBackupId: second.id });
  assert.equal(ok.ok, true);
  assert.match(backupStepDetail(f, ok.deploymentId), new RegExp(`^backup ${second.id} taken at the start of the rollout`));
  assert.equal(f.ledger.getBackup(second.id)!.deploymentId, ok.deploymentId, 'the catalog ties it to the update');
  assert.equal(backupBeforeDeployment(f.ledger, ok.deploymentId)?.id, second.id, 'what rollback --with-data restores');
  const back = await update(f, 'rollback', { releaseId: v1.id, restoreBackupId: second.id, recordAs: 'rollback-with-data' });
  assert.equal(back.ok, true);
  assert.equal(f.readState(), 'v1 data again');
});

test('recovery after a crash mid-migration restores the rollout backup the update used', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  const taken = await rolloutBackup(f, 'v1');
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));
  let reached!: () => void;
  const atCrash = new Promise<void>((resolve) => (reached = resolve));
  const faults: PipelineFaults = {
    before: async () => {},
    after: async (name) => {
      if (name !== 'migrate') return;
      reached();
      await new Promise(() => {}); // the agent is gone
    },
  };
  void update(f, 'deploy', { releaseId: v2.id, rolloutBackupId: taken.id }, faults);
  await atCrash;
  assert.equal(f.readState(), 'v2 data');
  const after = f.reopen();
  const report = await recoverUnfinishedUpdate(after.host, () => {});
  assert.equal(report?.outcome, 'rolled-back');
  assert.match(report!.message, new RegExp(`restored backup ${taken.id}`));
  assert.equal(after.readState(), 'v1 data');
});

test('a write since the rollout backup: a migrating update takes a fresh backup with writes held, so its undo loses nothing', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  const taken = await rolloutBackup(f, 'v1');
  f.writeState('v1 data and a write acknowledged after the rollout backup');
  f.runtime.commands.set('migrate v2', () => {
    f.writeState('half migrated');
    throw new Error('the migration broke');
  });
  const failed = await update(f, 'deploy', { releaseId: v2.id, rolloutBackupId: taken.id });
  assert.equal(failed.ok, false);
  const detail = backupStepDetail(f, failed.deploymentId);
  assert.match(detail, new RegExp(`; backup ${taken.id} taken at the start of the rollout not used: the data changed since it was taken \\(uploads: state\\.txt\\)$`), detail);
  assert.match(detail, /^\d{8}T\d{6}Z-[0-9a-f]{6}, .*, verified; writes held from the snapshot on/, detail);
  assert.ok(failed.events.some((e) => e.type === 'progress' && e.line.includes(`backup ${taken.id} taken at the start of the rollout cannot be this update's`)));
  assert.equal(f.readState(), 'v1 data and a write acknowledged after the rollout backup', 'the undo restored the fresh backup');
  assert.equal(preDeployBackups(f).length, 2);
});

test('an update that does not change data uses the rollout backup without comparing (nothing is restored by its undo)', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v3 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  const taken = await rolloutBackup(f, 'v1');
  f.writeState('written after the backup');
  const done = await update(f, 'deploy', { releaseId: v3.id, rolloutBackupId: taken.id });
  assert.equal(done.ok, true);
  assert.match(backupStepDetail(f, done.deploymentId), new RegExp(`^backup ${taken.id} taken at the start of the rollout \\(\\d+ s ago\\)$`));
  assert.equal(preDeployBackups(f).length, 1);
  assert.deepEqual(f.runtime.modes, [], 'no write was held: nothing migrates');
});

test('a rollout backup that cannot stand for the update is replaced by a fresh one, and the step says why', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1, v2, v3 } = f.releases;
  f.writeState('v1 data');
  await update(f, 'deploy', { releaseId: v1.id });
  f.runtime.commands.set('migrate v2', () => f.writeState('v2 data'));
  const unverified = await rolloutBackup(f, 'v1');
  f.ledger.markBackupVerified(unverified.id, null);
  const damaged = await rolloutBackup(f, 'v1');
  const dir = path.join(f.layout.backupsDir, damaged.id);
  const file = readdirSync(dir).find((n) => n !== 'backup.json')!;
  writeFileSync(path.join(dir, file), 'not what was backed up');
  const old = await rolloutBackup(f, 'v1');
  f.ledger.removeBackup(old.id);
  f.ledger.recordBackup({ ...old, createdAt: new Date(Date.now() - ROLLOUT_BACKUP_MAX_AGE_MS - 60_000).toISOString() });
  const manual = await createBackup({ layout: f.layout, ledger: f.ledger, environment: 'production', data: v1.manifest.runtime.data, env: {}, releaseId: v1.id, releaseVersion: 'v1', reason: 'manual' });
  const gone = await rolloutBackup(f, 'v1');
  rmSync(path.join(f.layout.backupsDir, gone.id), { recursive: true });

  const cases: [string, RegExp][] = [
    ['20250101T000000Z-abcdef', /it is not in this host's catalog/],
    [unverified.id, /it is not verified/],
    [damaged.id, /is damaged/],
    [old.id, /it was taken \d+ min ago, more than 60 min/],
    [manual.id, /it is a manual backup, not one taken before an update/],
    [gone.id, /./],
  ];
  for (const [id, why] of cases) {
    // Each case runs the same update, undone when v3 fails to start, so the host serves v1 for the next.
    f.runtime.failsToStart.add('v3');
    const before = f.ledger.listBackups().length;
    const attempt = await update(f, 'deploy', { releaseId: v3.id, rolloutBackupId: id });
    assert.equal(attempt.ok, false);
    const detail = backupStepDetail(f, attempt.deploymentId);
    assert.match(detail, new RegExp(`, verified; backup ${id} taken at the start of the rollout not used: `), detail);
    assert.match(detail.split(' not used: ')[1]!, why, detail);
    assert.equal(f.ledger.listBackups().length, before + 1, `a fresh backup instead of ${id}`);
  }

  // Of another release: the host serves v2 now, the offer is a backup of v1.
  f.runtime.failsToStart.clear();
  const ofV1 = await rolloutBackup(f, 'v1');
  assert.equal((await update(f, 'deploy', { releaseId: v2.id })).ok, true);
  const wrong = await update(f, 'deploy', { releaseId: v3.id, rolloutBackupId: ofV1.id });
  assert.equal(wrong.ok, true);
  assert.match(backupStepDetail(f, wrong.deploymentId), / not used: it belongs to v1, not to v2 serving here$/);
});

test('a first deploy has nothing to back up: an offered backup changes nothing', async (t) => {
  const f = await createUpdateFixture(t);
  const { v1 } = f.releases;
  f.writeState('v1 data');
  const first = await update(f, 'deploy', { releaseId: v1.id, rolloutBackupId: '20250101T000000Z-abcdef' });
  assert.equal(first.ok, true);
  assert.equal(f.ledger.getDeployment(first.deploymentId)!.steps.find((s) => s.name === 'backup')!.outcome, 'skipped');
  assert.equal(f.ledger.listBackups().filter((b) => b.reason === 'pre-deploy').length, 0);
});
