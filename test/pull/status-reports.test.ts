import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../release/repo-fixture.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { buildHostStatusReport, readHostStatuses, unhealthyReason, writeHostStatus, type DeploymentSummary } from '../../src/store/status-reports.js';
import { SlipwayError } from '../../src/errors.js';
import { parseDataAge } from '../../src/host/data-age.js';

const V2 = { id: '2'.repeat(64), version: 'v2' };
const V3 = { id: '3'.repeat(64), version: 'v3' };

function deployment(id: number, to: { id: string; version: string }, outcome: string | null): DeploymentSummary {
  return { id, kind: 'deploy', toId: to.id, toVersion: to.version, outcome, startedAt: `2025-01-0${id}T00:00:00.000Z`, finishedAt: outcome ? `2025-01-0${id}T00:01:00.000Z` : null, error: outcome === 'rolled-back' ? 'health check failed' : null };
}

test('a report names the deployment that made the current release current, not the last attempt', () => {
  // v2 went in fine (#1); v3 failed its health check and was rolled back (#2): v2 still runs.
  const report = buildHostStatusReport({
    host: 'web-1',
    environment: 'production',
    current: V2,
    previous: null,
    health: 'healthy',
    deployments: [deployment(2, V3, 'rolled-back'), deployment(1, V2, 'succeeded')],
    failedRelease: { id: V3.id, version: 'v3', error: 'health check failed', at: '2025-01-02T00:01:00.000Z' },
    channel: { releaseId: V3.id, version: 'v3', when: '2025-01-02T00:00:00.000Z' },
    now: new Date('2025-01-02T00:02:00.000Z'),
  });
  assert.deepEqual(report.currentDeployment, { id: 1, outcome: 'succeeded', finishedAt: '2025-01-01T00:01:00.000Z' });
  assert.equal(report.lastDeployment?.releaseId, V3.id);
  assert.equal(report.lastDeployment?.outcome, 'rolled-back');
  assert.equal(unhealthyReason(report, V2.id), null);
  assert.equal(unhealthyReason(report, V3.id), 'runs v2 instead');
  assert.match(unhealthyReason({ ...report, health: 'unhealthy' }, V2.id) ?? '', /unhealthy/);
  assert.match(unhealthyReason({ ...report, currentDeployment: { id: 1, outcome: 'failed', finishedAt: null } }, V2.id) ?? '', /did not succeed/);
});

test('reports round-trip through the store; an unreadable one is listed with its problem', async (t) => {
  const store = createLocalStore(tempDir(t));
  const base = buildHostStatusReport({ host: 'web-1', environment: 'production', current: V2, previous: null, health: 'healthy', deployments: [deployment(1, V2, 'succeeded')] });
  await writeHostStatus(store, 'demo', 'production', 'web-1', base);
  await writeHostStatus(store, 'demo', 'production', 'web-2', { ...base, host: 'web-2', health: 'unhealthy' });
  await store.put('demo/status/production/web-3.json', '{"host": "web-3"');
  await store.put('demo/status/production/web-4.json', '{"host": "web-4"}');
  await writeHostStatus(store, 'demo', 'staging', 'web-9', base);

  const reports = await readHostStatuses(store, 'demo', 'production');
  assert.deepEqual(reports.map((r) => [r.host, r.health]), [['web-1', 'healthy'], ['web-2', 'unhealthy'], ['web-3', 'unknown'], ['web-4', 'unknown']]);
  assert.match(reports[2]!.problem ?? '', /not valid JSON/);
  assert.match(reports[3]!.problem ?? '', /malformed/);
  assert.equal(unhealthyReason(reports[3]!, V2.id), reports[3]!.problem);
  assert.deepEqual(await readHostStatuses(store, 'demo', 'nowhere'), []);
  await assert.rejects(writeHostStatus(store, 'demo', 'production', '../evil', base), (e: SlipwayError) => e.code === 'STATUS_BAD_HOST_NAME');
});

test("a report carries the host's data age when its agent gives one, read back through the store (promote reads it)", async (t) => {
  const store = createLocalStore(tempDir(t));
  const dataAge = { source: 'copy', at: '2025-01-01T03:00:00.000Z', environment: 'production', backupId: '20250101T030000Z-abcdef', copiedAt: '2025-01-01T03:05:00.000Z', scrubbed: true };
  const report = buildHostStatusReport({ host: 'stage-1', environment: 'staging', current: V2, previous: null, health: 'healthy', deployments: [deployment(1, V2, 'succeeded')], dataAge });
  await writeHostStatus(store, 'demo', 'staging', 'stage-1', report);
  const [read] = await readHostStatuses(store, 'demo', 'staging');
  assert.deepEqual(parseDataAge(read!.dataAge), dataAge);
  const without = buildHostStatusReport({ host: 'stage-1', environment: 'staging', current: V2, previous: null, health: 'healthy', deployments: [] });
  assert.equal('dataAge' in without, false, 'an agent that gives none writes none');
});
