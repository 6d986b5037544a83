// Pull mode end to end: CI publishes to a real S3 server (s3rver), a real agent
// polls its channel every second, deploys what the channel names, reports to
// the store, follows a rollback of the pointer, and does not loop on a release
// that fails on its host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPullFixture, waitUntil } from '../helpers/pull-fixture.js';

interface Published {
  id: string;
  version: string;
  moved: boolean;
}

test('publish v1 → the agent serves it and reports; publish v2 → deployed with its migration; channel set v1 → rolled back', { timeout: 150_000 }, async (t) => {
  const f = await createPullFixture(t);
  const v1 = await f.cliOk<Published>(['publish', 'production', '--ref', 'v1', '--json']);
  assert.equal(v1.version, 'v1');

  const agent = await f.startAgent('production');
  await f.waitForVersion('production', 'v1');
  const first = await f.waitForReport('production', 'v1 healthy', (r) => r.current?.version === 'v1' && r.health === 'healthy');
  assert.equal(first.current?.id, v1.id);
  assert.equal(first.environment, 'production');
  assert.equal(first.currentDeployment?.outcome, 'succeeded');
  assert.equal(first.channel?.releaseId, v1.id, 'the report says which pointer the host saw');
  assert.equal(first.failedRelease, null);

  const v2 = await f.cliOk<Published>(['publish', 'production', '--ref', 'v2', '--reason', 'word counts', '--json']);
  assert.equal(v2.moved, true);
  await f.waitForVersion('production', 'v2');
  const second = await f.waitForReport('production', 'v2 healthy', (r) => r.current?.version === 'v2' && r.health === 'healthy' && r.currentDeployment?.outcome === 'succeeded');
  assert.equal(second.current?.id, v2.id);
  assert.equal(second.previous?.id, v1.id);
  const afterV2 = await f.history('production');
  assert.deepEqual(afterV2.map((d) => [d.from, d.to, d.outcome]), [['v1', 'v2', 'succeeded'], [null, 'v1', 'succeeded']]);
  const migrate = afterV2[0]!.steps.find((s) => s.name === 'migrate');
  assert.equal(migrate?.outcome, 'done', `v2's migration ran: ${JSON.stringify(afterV2[0]!.steps)}`);

  const set = await f.cli(['channel', 'set', 'production', 'v1', '--reason', 'v2 miscounts words']);
  assert.equal(set.code, 0, set.stderr);
  await f.waitForVersion('production', 'v1');
  const third = await f.waitForReport('production', 'back on v1', (r) => r.current?.version === 'v1' && r.health === 'healthy' && r.channel?.releaseId === v1.id);
  assert.equal(third.currentDeployment?.outcome, 'succeeded');
  const afterSet = await f.history('production');
  assert.equal(afterSet.length, 3);
  assert.deepEqual([afterSet[0]!.from, afterSet[0]!.to, afterSet[0]!.outcome], ['v2', 'v1', 'succeeded']);

  const moves = await f.cliOk<{ version: string; releaseId: string; who: string; why: string }[]>(['channel', 'history', 'production', '--json']);
  assert.deepEqual(
    moves.map((m) => [m.version, m.why]),
    [['v1', 'v2 miscounts words'], ['v2', 'word counts'], ['v1', 'publish v1']],
    'the three moves, newest first',
  );
  assert.ok(moves.every((m) => m.who === 'ci-e2e'));

  // Nothing moves while the pointer stays put: a few more polls add no deployment.
  const applied = (agent.output().match(/applying it/g) ?? []).length;
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal((await f.history('production')).length, 3);
  assert.equal((agent.output().match(/applying it/g) ?? []).length, applied);
  assert.equal(await f.version('production'), 'v1');

  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
});

test('a release that fails on the host is tried once, recorded in the report, and not retried until the channel moves', { timeout: 120_000 }, async (t) => {
  const f = await createPullFixture(t);
  const v2 = await f.cliOk<Published>(['publish', 'production', '--ref', 'v2', '--json']);
  const agent = await f.startAgent('production');
  await f.waitForVersion('production', 'v2');
  await f.waitForReport('production', 'v2 healthy', (r) => r.current?.version === 'v2' && r.health === 'healthy');
  assert.equal((await f.history('production')).length, 1);

  const v3 = await f.cliOk<Published>(['publish', 'production', '--ref', 'v3', '--json']);
  const failed = await f.waitForReport('production', 'v3 failed', (r) => r.failedRelease !== null, 45_000);
  assert.equal(failed.failedRelease?.id, v3.id);
  assert.equal(failed.failedRelease?.version, 'v3');
  assert.ok(failed.failedRelease!.error.length > 0);
  assert.equal(failed.current?.id, v2.id, 'v2 still serves');
  assert.equal(failed.health, 'healthy');
  assert.equal(failed.channel?.releaseId, v3.id, 'the host saw the pointer to v3');
  assert.equal(failed.lastDeployment?.version, 'v3');
  assert.notEqual(failed.lastDeployment?.outcome, 'succeeded');
  assert.equal(await f.version('production'), 'v2');

  // Several poll intervals later: still exactly one attempt at v3.
  const pollsBefore = (agent.output().match(/names v3/g) ?? []).length;
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const deployments = await f.history('production');
  const attempts = deployments.filter((d) => d.to === 'v3');
  assert.equal(attempts.length, 1, `one attempt at v3: ${JSON.stringify(deployments.map((d) => [d.to, d.outcome]))}`);
  assert.notEqual(attempts[0]!.outcome, 'succeeded');
  assert.equal(deployments.length, 2);
  assert.equal(await f.version('production'), 'v2');
  assert.ok((agent.output().match(/names v3/g) ?? []).length <= pollsBefore + 1, 'the skip is said once, not at every poll');

  // A restarted agent remembers the failure (run/pull-state.json): it serves v2 and does not try v3 again.
  await agent.stop();
  const restartedAt = Date.now();
  const restarted = await f.startAgent('production');
  await f.waitForVersion('production', 'v2');
  await f.waitForReport('production', 'v3 failed, after the restart', (r) => Date.parse(r.reportedAt) >= restartedAt && r.failedRelease?.id === v3.id && r.current?.id === v2.id);
  await waitUntil('the restarted agent to skip v3', () => /names v3, which failed on this host/.test(restarted.output()), 15_000, { explain: f.agentOutput });
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal((await f.history('production')).filter((d) => d.to === 'v3').length, 1, 'still one attempt at v3');

  // The agent keeps polling: pointing the channel back at v2 (what runs) clears the failure without a deployment.
  const set = await f.cli(['channel', 'set', 'production', 'v2', '--reason', 'v3 fails its health check']);
  assert.equal(set.code, 0, set.stderr);
  const cleared = await f.waitForReport('production', 'the failure forgotten', (r) => r.channel?.releaseId === v2.id && r.failedRelease === null);
  assert.equal(cleared.current?.id, v2.id);
  assert.equal((await f.history('production')).length, 2);
  await restarted.stop();
});
