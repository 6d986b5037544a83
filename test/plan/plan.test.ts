import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareReleases, createUpdatePlan, planRefusal, releasesBetween, type UpdatePlanInput } from '../../src/plan/plan.js';
import { planFromInput } from '../../src/update/plan-update.js';
import { renderPlanText } from '../../src/plan/render.js';
import { key, release } from './releases.js';

const GIB = 1024 ** 3;
const v1 = release({ version: 'v1', day: 1, config: [key('PORT_HINT', { default: '1' })] });
const v2 = release({ version: 'v2', day: 2, notes: '- word counts' });
const v3 = release({
  version: 'v3',
  day: 3,
  notes: '- a title on the front page',
  config: [key('NOTES_TITLE', { required: true })],
  upgradeFrom: '>=v2',
  migrate: { command: 'node migrate.js', reversible: false },
});

function input(o: Partial<UpdatePlanInput> & Pick<UpdatePlanInput, 'current' | 'target'>): UpdatePlanInput {
  return { environment: 'production', between: [], hostConfig: {}, freeBytes: 10 * GIB, backupEstimateBytes: 1024, kind: 'deploy', healthWindowMs: 1000, ...o };
}

test('v1 → v3: refused, naming the missing key and the release to deploy first; notes of v2 and v3', () => {
  const plan = planFromInput(input({ current: v1, target: v3, between: [v2] }));
  assert.deepEqual(plan.from, { id: v1.id, version: 'v1' });
  assert.deepEqual(plan.to, { id: v3.id, version: 'v3' });
  assert.equal(plan.direction, 'upgrade');
  assert.deepEqual(plan.notes, [
    { version: 'v2', notes: '- word counts' },
    { version: 'v3', notes: '- a title on the front page' },
  ]);
  assert.deepEqual(plan.config.missing, ['NOTES_TITLE']);
  assert.deepEqual(plan.config.added, ['NOTES_TITLE']);
  assert.deepEqual(plan.config.removed, ['PORT_HINT']);
  assert.equal(plan.requiredIntermediate, 'v2');
  assert.deepEqual(plan.upgradePath, ['v2', 'v3']);
  assert.deepEqual(plan.blockerCodes, ['UPGRADE_PATH_REQUIRED', 'CONFIG_KEYS_MISSING']);
  assert.match(plan.blockers[0]!, /v3 can only be reached from >=v2, and production runs v1: deploy v2 first/);
  assert.match(plan.blockers[1]!, /NOTES_TITLE/);
  assert.deepEqual(plan.nextSteps, [
    'slipway deploy production --version v2',
    'slipway config production set NOTES_TITLE=<value>',
    'slipway plan production --version v3 (after each deploy)',
  ]);
  assert.deepEqual(plan.migrations, { runs: true, reversible: false, command: 'node migrate.js' });
  assert.equal(plan.downtime, 'maintenance-window');
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan, 'the plan is plain, serializable data');

  const refusal = planRefusal(plan);
  assert.ok(refusal);
  assert.equal(refusal.code, 'UPGRADE_PATH_REQUIRED');
  assert.match(refusal.message, /cannot deploy v3 to production: 2 problems/);
  assert.equal(refusal.details.length, 2);
  assert.match(refusal.hint ?? '', /slipway deploy production --version v2; then slipway config production set NOTES_TITLE=<value>/);
});

test('v2 → v3 with the key set: nothing blocks; the steps say what each will do', () => {
  const plan = planFromInput(input({ current: v2, target: v3, between: [v1, v2, v3], hostConfig: { NOTES_TITLE: 'x' } }));
  assert.deepEqual(plan.blockers, []);
  assert.deepEqual(plan.nextSteps, []);
  assert.equal(plan.requiredIntermediate, null);
  assert.deepEqual(plan.upgradePath, ['v3']);
  assert.deepEqual(plan.notes.map((n) => n.version), ['v3'], 'releases outside (current, target) are ignored');
  assert.equal(planRefusal(plan), null);
  assert.deepEqual(
    plan.steps.map((s) => s.split(':')[0]),
    ['lock', 'fetch', 'preflight', 'backup', 'maintenance', 'migrate', 'start', 'switch', 'watch', 'finish'],
  );
  assert.match(plan.steps[5]!, /^migrate: run `node migrate\.js` \(not reversible/);
  assert.match(plan.steps[4]!, /^maintenance: hold writes/);
  assert.match(plan.steps[8]!, /^watch: watch health for 1 s/);
  assert.match(plan.steps[6]!, /start v3 in the idle slot beside v2, wait for GET \/healthz/);
});

test('a key with a default, or set in the environment, is not missing', () => {
  const target = release({ version: 'v4', day: 4, config: [key('A', { required: true, default: 'x' }), key('B', { required: true })] });
  assert.deepEqual(planFromInput(input({ current: v3, target, hostConfig: { B: '' } })).config.missing, [], 'an empty value is a value');
  assert.deepEqual(planFromInput(input({ current: v3, target })).config.missing, ['B']);
});

test('renamed keys are guessed, and a missing key that looks renamed says so', () => {
  const before = release({ version: '1.9.0', day: 1, config: [key('SESION_SECRET', { required: true }), key('TITLE')] });
  const after = release({ version: '1.10.0', day: 2, config: [key('SESSION_SECRET', { required: true }), key('NOTES_TITLE')] });
  const plan = planFromInput(input({ current: before, target: after, hostConfig: { SESION_SECRET: 's' } }));
  assert.equal(plan.direction, 'upgrade', '1.9.0 < 1.10.0');
  assert.deepEqual(plan.config.renamed, [
    { from: 'SESION_SECRET', to: 'SESSION_SECRET' },
    { from: 'TITLE', to: 'NOTES_TITLE' },
  ]);
  assert.match(plan.blockers.join('\n'), /SESSION_SECRET \(renamed from SESION_SECRET\? the host still has SESION_SECRET\)/);
});

test('a deploy to an older release is refused; a rollback to it is not, and runs no migration', () => {
  const deploy = planFromInput(input({ current: v3, target: v2, hostConfig: { NOTES_TITLE: 'x' } }));
  assert.equal(deploy.direction, 'downgrade');
  assert.deepEqual(deploy.blockerCodes, ['RELEASE_OLDER']);
  assert.match(deploy.nextSteps[0]!, /slipway rollback production --to v2/);
  assert.deepEqual(deploy.notes, []);

  const rollback = planFromInput(input({ current: v3, target: v2, kind: 'rollback' }));
  assert.deepEqual(rollback.blockers, []);
  assert.deepEqual(rollback.migrations, { runs: false, reversible: true, command: null });
  assert.equal(rollback.downtime, 'none');
  assert.match(rollback.steps[5]!, /a rollback runs no migrations/);

  assert.deepEqual(planFromInput(input({ current: v3, target: v2, allowOlder: true })).blockers, [], '--allow-older');
});

test('not enough disk for the backup and the release: refused with the sizes', () => {
  const plan = planFromInput(input({ current: v1, target: v2, freeBytes: 100 * 1024 * 1024, backupEstimateBytes: 50 * 1024 * 1024 }));
  assert.equal(plan.backup.fits, false);
  assert.equal(plan.backup.neededBytes, 50 * 1024 * 1024 + 2 * 1000 + 64 * 1024 * 1024);
  assert.deepEqual(plan.blockerCodes, ['DISK_SPACE_LOW']);
  assert.match(plan.blockers[0]!, /only 100 MiB free/);
  assert.equal(planFromInput(input({ current: v1, target: v2, freeBytes: 200 * 1024 * 1024, backupEstimateBytes: 50 * 1024 * 1024 })).backup.fits, true);
});

test('first deploy and the same release again', () => {
  const first = planFromInput(input({ current: null, target: v3, hostConfig: { NOTES_TITLE: 'x' } }));
  assert.equal(first.direction, 'first');
  assert.equal(first.from, null);
  assert.deepEqual(first.blockers, [], 'upgrade.from does not apply to a fresh host');
  assert.deepEqual(first.notes.map((n) => n.version), ['v3']);
  assert.equal(first.downtime, 'none', 'nothing serves yet');
  assert.match(first.steps[3]!, /nothing to back up/);

  const same = planFromInput(input({ current: v2, target: v2 }));
  assert.equal(same.direction, 'same');
  assert.deepEqual(same.notes, []);
});

test('no release in the store reaches the target: refused, saying what to build', () => {
  const plan = planFromInput(input({ current: v1, target: v3, between: [], hostConfig: { NOTES_TITLE: 'x' } }));
  assert.equal(plan.upgradePath, null);
  assert.equal(plan.requiredIntermediate, null);
  assert.deepEqual(plan.blockerCodes, ['UPGRADE_PATH_MISSING']);
  assert.match(plan.nextSteps[0]!, /build and deploy a release in >=v2 first/);
});

test('a chain of required releases is found hop by hop', () => {
  const v4 = release({ version: 'v4', day: 4, upgradeFrom: '>=v3' });
  const plan = planFromInput(input({ current: v1, target: v4, between: [v3, v2], hostConfig: { NOTES_TITLE: 'x' } }));
  assert.deepEqual(plan.upgradePath, ['v2', 'v3', 'v4']);
  assert.equal(plan.requiredIntermediate, 'v2');
  assert.match(plan.blockers[0]!, /deploy v2, then v3 first/);
});

test('versions that are not comparable fall back to commit dates', () => {
  const a = release({ version: 'abc1234', day: 5 });
  const b = release({ version: 'def5678', day: 6 });
  assert.equal(compareReleases(a, b), -1);
  assert.equal(planFromInput(input({ current: b, target: a })).direction, 'downgrade');
  // A host on a commit build newer than v2 satisfies ">=v2" by date.
  const onCommit = release({ version: 'abc1234', day: 2 });
  const reachable = planFromInput(input({ current: { ...onCommit, date: '2025-01-02T18:00:00.000Z' }, target: v3, between: [v2], hostConfig: { NOTES_TITLE: 'x' } }));
  assert.equal(reachable.direction, 'upgrade');
  assert.deepEqual(reachable.blockers, []);
  const older = release({ version: 'abc1234', day: 1 });
  const unreachable = planFromInput(input({ current: older, target: v3, between: [v2], hostConfig: { NOTES_TITLE: 'x' } }));
  assert.deepEqual(unreachable.blockerCodes, ['UPGRADE_PATH_REQUIRED']);
});

test('releasesBetween keeps one release per version, oldest first', () => {
  const rebuilt = { ...v2, id: 'b'.repeat(64) };
  const picked = releasesBetween([v3, rebuilt, v1, v2, release({ version: 'v2.5', day: 2 })], v1, v3);
  assert.deepEqual(picked.map((r) => [r.version, r.id]), [['v2', v2.id], ['v2.5', release({ version: 'v2.5', day: 2 }).id]]);
});

test('the text plan shows notes, config changes, data, steps, and what to do next', () => {
  const text = renderPlanText(planFromInput(input({ current: v1, target: v3, between: [v2] })));
  assert.match(text, /^Update plan for production: v1 \([0-9a-f]{12}\) → v3 \([0-9a-f]{12}\), upgrade/);
  assert.match(text, /Release notes\n {2}v2\n {4}- word counts\n {2}v3\n {4}- a title on the front page/);
  assert.match(text, /missing on this host {2}NOTES_TITLE/);
  assert.match(text, /removed keys {10}PORT_HINT/);
  assert.match(text, /migrations {2}`node migrate\.js` runs; not reversible/);
  assert.match(text, /downtime {4}maintenance window/);
  assert.match(text, /Upgrade path\n {2}v1 → v2 → v3/);
  assert.match(text, / 1\. lock +take the lock of production/);
  assert.match(text, /Blocked: slipway refuses this deploy \(2 problems\); nothing was changed\./);
  assert.match(text, /What to do next\n {2}1\. slipway deploy production --version v2\n {2}2\. slipway config production set NOTES_TITLE=<value>/);

  const ready = renderPlanText(planFromInput(input({ current: v2, target: v3, hostConfig: { NOTES_TITLE: 'x' } })));
  assert.match(ready, /Ready: `slipway deploy production --version v3` does this\./);
  assert.doesNotMatch(ready, /Blocked/);
});
