// promote with real agents: production and staging in one slipway.yml, both
// pulling from the same S3 server. A release that ran healthy in production is
// promoted to staging by its exact id and staging's agent deploys it; a
// release that failed in production is refused without --force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readChannel } from '../../src/store/channels.js';
import { APP, createPullFixture } from '../helpers/pull-fixture.js';

test('promote production → staging moves staging to the release production runs healthy; a failed one is refused', { timeout: 150_000 }, async (t) => {
  const f = await createPullFixture(t, { environments: ['production', 'staging'] });
  const v2 = await f.cliOk<{ id: string }>(['publish', 'production', '--ref', 'v2', '--json']);
  const production = await f.startAgent('production');
  const staging = await f.startAgent('staging');
  await f.waitForVersion('production', 'v2');
  await f.waitForReport('production', 'v2 healthy after its health window', (r) => r.current?.id === v2.id && r.health === 'healthy' && r.currentDeployment?.outcome === 'succeeded');
  assert.equal(await f.version('staging'), null, 'staging runs nothing: its channel was never set');

  const promoted = await f.cli(['promote', 'production', 'staging', '--json']);
  assert.equal(promoted.code, 0, `${promoted.stderr}\n${f.agentOutput()}`);
  const pointer = JSON.parse(promoted.stdout) as { releaseId: string; version: string; forced: boolean; healthyHosts: string[]; why: string };
  assert.equal(pointer.releaseId, v2.id, 'the exact release id production runs');
  assert.equal(pointer.forced, false);
  assert.deepEqual(pointer.healthyHosts, [f.hostname]);
  assert.equal((await readChannel(f.store, APP, 'staging'))?.releaseId, v2.id);

  await f.waitForVersion('staging', 'v2');
  const stagingReport = await f.waitForReport('staging', 'v2 deployed', (r) => r.current?.id === v2.id && r.currentDeployment?.outcome === 'succeeded');
  assert.equal(stagingReport.environment, 'staging');
  // Each environment has its own host root, ledger and data.
  assert.equal((await f.history('staging')).length, 1);
  assert.equal((await f.history('production')).length, 1);

  // v3 fails its health check in production: production keeps v2 and remembers v3 as failed.
  const v3 = await f.cliOk<{ id: string }>(['publish', 'production', '--ref', 'v3', '--json']);
  await f.waitForReport('production', 'v3 failed', (r) => r.failedRelease?.id === v3.id, 45_000);
  assert.equal(await f.version('production'), 'v2');

  const refused = await f.cli(['promote', 'production', 'staging']);
  assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
  assert.match(refused.stderr, /v3 .*has not run healthy in production/);
  assert.match(refused.stderr, /runs v2 instead \(it failed there: /, 'says why, host by host');
  assert.match(refused.stderr, /hint: it failed in production, where it is not retried: .*--force/);
  assert.equal((await readChannel(f.store, APP, 'staging'))?.releaseId, v2.id, 'staging was not changed');

  // With --force it goes through, and the force is on record in staging's channel history.
  const forced = await f.cli(['promote', 'production', 'staging', '--force', '--json']);
  assert.equal(forced.code, 0, forced.stderr);
  const forcedPointer = JSON.parse(forced.stdout) as { releaseId: string; forced: boolean };
  assert.deepEqual([forcedPointer.releaseId, forcedPointer.forced], [v3.id, true]);
  const moves = await f.cliOk<{ version: string; why: string }[]>(['channel', 'history', 'staging', '--json']);
  assert.equal(moves[0]!.version, 'v3');
  assert.match(moves[0]!.why, /--force/);
  // Staging's agent tries it and, like production, keeps what ran before.
  await f.waitForReport('staging', 'v3 failed there too', (r) => r.failedRelease?.id === v3.id, 45_000);
  assert.equal(await f.version('staging'), 'v2');

  await Promise.all([production.stop(), staging.stop()]);
});
