// Issue 16, "Promote what was tested": `promote staging production` records on the
// channel's history entry the run in staging the release was tested in (its host's
// deployment, when its health window passed, the age of the data copy it ran on), and
// `channel history` shows it; the pointer agents follow stays as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openLedger } from '../../src/host/ledger.js';
import { readChannel, testedRunOf, type TestedRun } from '../../src/store/channels.js';
import { APP, createPullFixture } from '../helpers/pull-fixture.js';

test('promote staging → production records the staging run it was tested in, shown in channel history', { timeout: 120_000 }, async (t) => {
  const f = await createPullFixture(t, { environments: ['staging', 'production'] });
  const v2 = await f.cliOk<{ id: string }>(['publish', 'staging', '--ref', 'v2', '--json']);
  const staging = await f.startAgent('staging');
  const report = await f.waitForReport('staging', 'v2 healthy after its health window', (r) => r.current?.id === v2.id && r.health === 'healthy' && r.currentDeployment?.outcome === 'succeeded' && r.currentDeployment.finishedAt !== null);

  // Staging's last data copy, as its agent records one: a scrubbed copy of a production backup taken 3 hours ago.
  const backupCreatedAt = new Date(Date.now() - 3 * 3_600_000).toISOString();
  const ledger = openLedger(`${f.envs.staging!.hostRoot}/ledger.db`);
  try {
    const id = ledger.startDataCopy({ trigger: 'schedule', sourceEnvironment: 'production', backupId: '20261202T000000Z-abcdef', backupCreatedAt, scrub: { file: 'scrub.sql', sha256: 'a'.repeat(64) }, who: 'test' });
    ledger.finishDataCopy(id, { outcome: 'succeeded' });
  } finally {
    ledger.close();
  }

  const promoted = await f.cli(['promote', 'staging', 'production', '--json']);
  assert.equal(promoted.code, 0, `${promoted.stderr}\n${f.agentOutput()}`);
  const pointer = JSON.parse(promoted.stdout) as { releaseId: string; tested: TestedRun };
  assert.equal(pointer.releaseId, v2.id);
  const tested = pointer.tested;
  assert.equal(tested.environment, 'staging');
  assert.equal(tested.healthWindowPassed, true);
  assert.equal(tested.at, report.currentDeployment!.finishedAt, 'when its deployment in staging finished, health window included');
  assert.deepEqual(tested.hosts.map((h) => [h.host, h.outcome, h.deploymentId]), [[f.hostname, 'succeeded', report.currentDeployment!.id]]);
  assert.equal(tested.dataCopy?.from, 'production');
  assert.equal(tested.dataCopy?.backupCreatedAt, backupCreatedAt);
  assert.equal(tested.dataCopy?.scrubbed, true);
  assert.ok(tested.dataCopy!.ageSeconds >= 3 * 3600 && tested.dataCopy!.ageSeconds < 3 * 3600 + 120, `data age ${tested.dataCopy!.ageSeconds} s`);

  const [move] = await f.cliOk<Array<{ releaseId: string; tested?: TestedRun }>>(['channel', 'history', 'production', '--json']);
  assert.deepEqual(move?.tested, tested, 'the history entry carries the staging run');
  const current = await readChannel(f.store, APP, 'production');
  assert.equal(current?.releaseId, v2.id);
  assert.equal(current?.tested, undefined, 'the pointer agents follow keeps its fields');
  // What an agent of production finds for its dashboard, from the pointer it follows: the same run.
  assert.deepEqual(await testedRunOf(f.store, APP, current!), tested);

  const table = await f.cli(['channel', 'history', 'production']);
  assert.match(table.stdout, /TESTED IN/);
  assert.match(table.stdout, /staging \d{4}-\d\d-\d\d \d\d:\d\d, health window passed, data 3 h 0 min old \(scrubbed\)/);
  await staging.stop();
});
