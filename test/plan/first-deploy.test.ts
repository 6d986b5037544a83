/**
 * What the plan says each pipeline step will do, against what the steps do (src/update/steps/):
 * a first deploy runs its migration, with no maintenance window since nothing serves yet.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UpdatePlan, UpdatePlanInput } from '../../src/plan/plan.js';
import { planFromInput } from '../../src/update/plan-update.js';
import { renderPlanText } from '../../src/plan/render.js';
import { release } from './releases.js';

const migrating = release({ version: 'v1', day: 1, migrate: { command: 'npm run migrate', reversible: false } });
const plain = release({ version: 'v1', day: 1 });
const next = release({ version: 'v2', day: 2, migrate: { command: 'npm run migrate', reversible: true } });

function plan(o: Partial<UpdatePlanInput> & Pick<UpdatePlanInput, 'current' | 'target'>): UpdatePlan {
  return planFromInput({ environment: 'production', between: [], hostConfig: {}, freeBytes: 1024 ** 3, backupEstimateBytes: 0, kind: 'deploy', healthWindowMs: 1000, ...o });
}

const skipped = (p: UpdatePlan) => p.pipeline.filter((s) => !s.runs).map((s) => s.step);
const what = (p: UpdatePlan, step: string) => p.pipeline.find((s) => s.step === step)!.what;

test('first deploy of a release that migrates: the migration runs, without a window, and nothing is backed up first', () => {
  const first = plan({ current: null, target: migrating });
  assert.equal(first.direction, 'first');
  assert.deepEqual(first.migrations, { runs: true, reversible: false, command: 'npm run migrate' });
  assert.equal(first.downtime, 'none');
  assert.deepEqual(skipped(first), ['backup', 'maintenance']);
  assert.match(what(first, 'backup'), /nothing deployed yet/);
  assert.match(what(first, 'maintenance'), /nothing serves yet, so no window is needed: the migration runs before v1 starts/);
  assert.doesNotMatch(what(first, 'maintenance'), /no migration|no data change/);
  assert.match(what(first, 'migrate'), /^run `npm run migrate` before anything serves/);
  assert.match(what(first, 'migrate'), /the data stays as the migration left it/, 'no backup to undo it with');
  assert.match(what(first, 'start'), /^start v1 \(nothing else runs yet\), wait for GET \/healthz/);
  assert.match(what(first, 'switch'), /the app answers from here on/);
  assert.equal(what(first, 'finish'), 'back up 1 database and 1 folder of v1, prune old releases, unlock');
  // The strings say the same, with "skipped:" where the pipeline skips.
  assert.deepEqual(first.steps.slice(3, 6).map((s) => s.split(': ').slice(0, 2).join(': ')), ['backup: skipped', 'maintenance: skipped', 'migrate: run `npm run migrate` before anything serves (nothing to back up first']);

  const text = renderPlanText(first);
  assert.match(text, /first deploy/);
  assert.match(text, /migrations {2}`npm run migrate` runs before v1 starts \(a first deploy runs it too/);
  assert.match(text, /downtime {4}none: nothing serves yet; the app answers once v1 passes its health check/);
  assert.doesNotMatch(text, /blue\/green/);
});

test('first deploy of a release without a migration: nothing to migrate, nothing to hold', () => {
  const first = plan({ current: null, target: { ...plain, runtime: { ...plain.runtime, data: { databases: [], folders: [] } } } });
  assert.deepEqual(skipped(first), ['backup', 'maintenance', 'migrate']);
  assert.equal(what(first, 'maintenance'), 'nothing serves yet, so no window is needed');
  assert.equal(what(first, 'migrate'), 'v1 has no migrate command');
  assert.equal(what(first, 'finish'), 'prune old releases, unlock', 'no data: no post-deploy backup');
  assert.match(renderPlanText(first), /migrations {2}none run/);
});

test('an upgrade that migrates holds writes from the backup on; one that does not is blue/green', () => {
  const upgrade = plan({ current: plain, target: next });
  assert.equal(upgrade.downtime, 'maintenance-window');
  assert.deepEqual(skipped(upgrade), []);
  assert.match(what(upgrade, 'backup'), /back up 1 database and 1 folder of v1 .*; writes held from the snapshot on/);
  assert.match(what(upgrade, 'maintenance'), /hold writes while the data changes/);
  assert.match(what(upgrade, 'finish'), /^take v1 out of service \(its release stays on disk for a rollback\), back up 1 database and 1 folder of v2/);

  const plainUpgrade = plan({ current: plain, target: { ...plain, id: 'other', version: 'v1.1', date: '2025-01-05T12:00:00.000Z' } });
  assert.deepEqual(skipped(plainUpgrade), ['maintenance', 'migrate']);
  assert.equal(what(plainUpgrade, 'maintenance'), 'no data change: blue/green without a maintenance window');
  assert.match(renderPlanText(plainUpgrade), /downtime {4}none \(blue\/green switch\)/);
});

test('a rollback keeps the data; a restore brings a backup back instead of migrating', () => {
  const rollback = plan({ current: next, target: plain, kind: 'rollback' });
  assert.deepEqual(skipped(rollback), ['backup', 'maintenance', 'migrate']);
  assert.match(what(rollback, 'backup'), /the data stays as it is/);

  const restore = plan({ current: next, target: plain, kind: 'rollback', restoresBackup: true });
  assert.deepEqual(skipped(restore), []);
  assert.equal(restore.migrations.runs, false);
  assert.equal(restore.downtime, 'maintenance-window');
  assert.match(what(restore, 'migrate'), /restore the backup's data/);
  assert.equal(what(restore, 'finish'), 'take v2 out of service (its release stays on disk for a rollback), prune old releases, unlock', 'no post-deploy backup after a restore');
});

test('a health window of 0 skips the watch', () => {
  assert.deepEqual(skipped(plan({ current: plain, target: next, healthWindowMs: 0 })), ['watch']);
});
