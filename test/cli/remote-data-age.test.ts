// Issue 16 on remote environments: a host's data age as it arrives in its status report
// (over SSH, or from the store), merged for the environment, and recorded by promote.
// The SSH path itself is test/remote/remote-data-age.test.ts.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { testedDataCopy, testedRun } from '../../src/cli/promote-tested.js';
import type { CliContext } from '../../src/cli/context.js';
import type { EnvironmentConfig } from '../../src/config/types.js';
import { describeDataAgeShort, oldestDataAge, parseDataAge, type DataAge } from '../../src/host/data-age.js';
import type { HostStatusReport } from '../../src/store/status-reports.js';
import { tempDir } from '../helpers/temp-dir.js';

const COPY: DataAge = { source: 'copy', at: '2026-12-01T03:00:00.000Z', environment: 'production', backupId: '20261201T030000Z-aaaaaa', copiedAt: '2026-12-01T04:00:00.000Z', scrubbed: true };
const BACKUP: DataAge = { source: 'backup', at: '2026-11-30T01:00:00.000Z', environment: 'staging', backupId: '20261130T010000Z-bbbbbb' };

test("a host's reported data age is read as it was written; anything else is none, never a failure", () => {
  assert.deepEqual(parseDataAge(JSON.parse(JSON.stringify(COPY))), COPY);
  assert.deepEqual(parseDataAge({ ...BACKUP, extra: 'from a newer host' }), BACKUP);
  for (const odd of [undefined, null, 'old', { ...COPY, source: 'guess' }, { ...COPY, at: 'yesterday' }, { ...COPY, backupId: 7 }]) {
    assert.equal(parseDataAge(odd), null, JSON.stringify(odd));
  }
});

test("an environment's data age is the oldest its hosts report, none when no host reports one", () => {
  assert.equal(oldestDataAge([]), null);
  assert.equal(oldestDataAge([null, undefined]), null);
  assert.deepEqual(oldestDataAge([COPY, null, BACKUP]), BACKUP);
  assert.deepEqual(oldestDataAge([null, COPY]), COPY);
  const now = new Date('2026-12-01T06:30:00.000Z');
  assert.equal(describeDataAgeShort(COPY, now), '3 h 30 min (copy of production, scrubbed)');
  assert.equal(describeDataAgeShort({ ...COPY, scrubbed: false }, now), '3 h 30 min (copy of production)');
  assert.equal(describeDataAgeShort(BACKUP, now), '29 h 30 min (backup)');
  assert.equal(describeDataAgeShort(null, now), '-');
});

test('the channel history records a copy a host ran on; a host whose data is its own backup ran on none', () => {
  const now = new Date('2026-12-01T06:00:00.000Z');
  assert.deepEqual(testedDataCopy(COPY, now), { from: 'production', backupId: COPY.backupId, backupCreatedAt: COPY.at, copiedAt: COPY.copiedAt, ageSeconds: 3 * 3600, scrubbed: true });
  assert.equal(testedDataCopy(BACKUP, now), null);
  assert.equal(testedDataCopy(null, now), null);
});

test("promote from staging on another server (its ledger is not here) records the copy its hosts' reports name", async (t) => {
  const root = path.join(tempDir(t), 'not-on-this-machine');
  const source = { name: 'staging', host: 'local', hosts: [], root } as unknown as EnvironmentConfig;
  const report = (host: string, dataAge?: DataAge): HostStatusReport => ({
    host,
    environment: 'staging',
    reportedAt: '2026-12-01T05:00:00.000Z',
    current: { id: 'r'.repeat(64), version: 'v2' },
    previous: null,
    health: 'healthy',
    currentDeployment: { id: 3, outcome: 'succeeded', finishedAt: '2026-12-01T04:30:00.000Z' },
    lastDeployment: null,
    failedRelease: null,
    channel: null,
    ...(dataAge ? { dataAge } : {}),
  });
  const ctx = { env: {}, progress: () => undefined } as unknown as CliContext;
  const newer = { ...COPY, at: '2026-12-01T05:00:00.000Z', backupId: '20261201T050000Z-cccccc' };
  const tested = await testedRun({ source, app: 'notes', reports: [report('s1', newer), report('s2', COPY), report('s3', BACKUP)], releaseId: 'r'.repeat(64), healthy: true }, ctx);
  assert.equal(tested.dataCopy?.backupId, COPY.backupId, 'the oldest copy any host ran on');
  assert.equal(tested.dataCopy?.from, 'production');
  assert.equal(tested.dataCopy?.scrubbed, true);
  // Agents that do not report their data age yet: none known, as before.
  const older = await testedRun({ source, app: 'notes', reports: [report('s1')], releaseId: 'r'.repeat(64), healthy: true }, ctx);
  assert.equal(older.dataCopy, null);
});
