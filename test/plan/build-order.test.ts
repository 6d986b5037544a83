/** Ordering releases whose versions do not settle it: the store's build order decides, and the refusal says so. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareReleases, createUpdatePlan, isCommitNamed, planRefusal, type PlannedRelease, type UpdatePlanInput } from '../../src/plan/plan.js';
import { planFromInput } from '../../src/update/plan-update.js';
import { release } from './releases.js';

const built = (r: PlannedRelease, at: string, commitDate?: string): PlannedRelease => ({ ...r, builtAt: at, ...(commitDate ? { date: commitDate } : {}) });

function input(o: Partial<UpdatePlanInput> & Pick<UpdatePlanInput, 'current' | 'target'>): UpdatePlanInput {
  return { environment: 'production', between: [], hostConfig: {}, freeBytes: 10 * 1024 ** 3, backupEstimateBytes: 0, kind: 'deploy', ...o };
}

test('tags of one second: the release built later is the newer one, not "the same release again"', () => {
  const second = '2025-01-05T12:00:00.000Z';
  const a = built(release({ version: 'build-a', day: 5 }), '2025-02-01T10:00:00.000Z', second);
  const b = built(release({ version: 'build-b', day: 5 }), '2025-02-01T10:05:00.000Z', second);
  assert.equal(compareReleases(a, b), -1);
  assert.equal(planFromInput(input({ current: a, target: b })).direction, 'upgrade');
  assert.equal(planFromInput(input({ current: b, target: a })).direction, 'downgrade');
});

test('a hotfix committed after the next release does not make the next release "older"', () => {
  // g5.96-hotfix was committed after g5.130 but is the older line: version decides.
  const hotfix = built(release({ version: 'g5.96', day: 20 }), '2025-02-20T00:00:00.000Z');
  const next = built(release({ version: 'g5.130', day: 10 }), '2025-02-10T00:00:00.000Z');
  const plan = planFromInput(input({ current: hotfix, target: next }));
  assert.equal(plan.direction, 'upgrade');
  assert.deepEqual(plan.blockers, []);
  // Unparseable names: a later commit date does not matter when the store knows the build order.
  const fix = built(release({ version: 'hotfix', day: 20 }), '2025-02-10T00:00:00.000Z');
  const upgrade = built(release({ version: 'upgrade', day: 10 }), '2025-02-20T00:00:00.000Z');
  assert.equal(planFromInput(input({ current: fix, target: upgrade })).direction, 'upgrade');
});

test('commit dates decide only when the build order is unknown', () => {
  const a = release({ version: 'abc1234', day: 5 });
  const b = release({ version: 'def5678', day: 6 });
  assert.equal(compareReleases(a, b), -1, 'no build order: commit dates');
  assert.equal(compareReleases(built(a, '2025-03-02T00:00:00Z'), built(b, '2025-03-01T00:00:00Z')), 1, 'build order wins over commit dates');
  assert.equal(compareReleases(a, { ...a }), 0, 'the same release');
});

test('a version named by its commit id has no place in a version order, even when all digits', () => {
  const digits = { ...release({ version: '1234567', day: 9 }), commit: '1234567'.padEnd(40, 'a') };
  const v2 = release({ version: '2', day: 1 });
  assert.equal(isCommitNamed(digits), true);
  assert.equal(isCommitNamed(v2), false);
  // As numbers 1234567 > 2; as what it is (a commit), the build order decides.
  assert.equal(compareReleases(built(digits, '2025-02-01T00:00:00Z'), built(v2, '2025-02-02T00:00:00Z')), -1);
});

test('a deploy that is not newer is refused, saying why and offering both ways back', () => {
  const v2 = built(release({ version: 'release-12', day: 2 }), '2025-02-02T00:00:00Z');
  const v3 = built(release({ version: 'release-13', day: 3 }), '2025-02-03T00:00:00Z');
  const plan = planFromInput(input({ current: v3, target: v2 }));
  assert.deepEqual(plan.blockerCodes, ['RELEASE_OLDER']);
  assert.match(plan.blockers[0]!, /release-12 is not newer than the running release-13 \(by version\)/);
  assert.match(plan.nextSteps[0]!, /slipway rollback production --to release-12/);
  assert.match(plan.nextSteps[0]!, /--with-data/);
  assert.match(plan.nextSteps[0]!, /slipway deploy production --version release-12 --allow-older/);
  const refusal = planRefusal(plan)!;
  assert.equal(refusal.code, 'RELEASE_OLDER');
  assert.match(refusal.hint ?? '', /either .*rollback.* or .*--allow-older/);
  assert.deepEqual(planFromInput(input({ current: v3, target: v2, allowOlder: true })).blockers, []);

  const x = built(release({ version: 'nightly', day: 2 }), '2025-02-01T00:00:00Z');
  const y = built(release({ version: 'stable', day: 1 }), '2025-02-05T00:00:00Z');
  assert.match(planFromInput(input({ current: y, target: x })).blockers[0]!, /the versions do not compare, so by build order in the store/);
});

test('upgrade.from with another tag scheme, and a host on a commit build placed by build order', () => {
  const g96 = built(release({ version: 'g5.96', day: 1 }), '2025-02-01T00:00:00Z');
  const g100 = built(release({ version: 'g5.100', day: 2 }), '2025-02-02T00:00:00Z');
  const g130 = built(release({ version: 'g5.130', day: 3, upgradeFrom: '>=g5.100' }), '2025-02-03T00:00:00Z');
  const direct = planFromInput(input({ current: g100, target: g130 }));
  assert.deepEqual(direct.blockers, []);
  const viaPath = planFromInput(input({ current: g96, target: g130, between: [g100] }));
  assert.deepEqual(viaPath.upgradePath, ['g5.100', 'g5.130']);
  // A commit build made after g5.100 (though committed before it) satisfies ">=g5.100".
  const onCommit = built({ ...release({ version: 'abc1234', day: 1 }) }, '2025-02-02T12:00:00Z');
  assert.deepEqual(planFromInput(input({ current: onCommit, target: g130, between: [g100] })).blockers, []);
  const before = built({ ...release({ version: 'abc1234', day: 9 }) }, '2025-02-01T12:00:00Z');
  assert.deepEqual(planFromInput(input({ current: before, target: g130, between: [g100] })).blockerCodes, ['UPGRADE_PATH_REQUIRED']);
});
