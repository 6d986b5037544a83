// Issue 16: how old an environment's data is — from its newest successful data copy (the
// source backup's time, not the copy's), else its own newest backup.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { dataAgeOf, dataAgeOfHost, describeDataAge, formatAge } from '../../src/host/data-age.js';
import { hostLayout } from '../../src/host/layout.js';
import { openLedger, type BackupRecord } from '../../src/host/ledger.js';
import { tempDir } from '../data/fixtures.js';

const backup = (id: string, createdAt: string): BackupRecord => ({
  id, environment: 'staging', release: null, reason: 'manual', createdAt, size: 1, sha256: 'b'.repeat(64), verifiedAt: createdAt, durationMs: 1, deploymentId: null, items: [],
});

test('a successful copy gives the age of its source backup; failed copies do not count; without copies, the newest backup', async (t) => {
  const layout = hostLayout(path.join(tempDir(t, 'slipway-age-'), 'staging'));
  assert.equal(await dataAgeOfHost(layout, 'staging'), null, 'no ledger yet');
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  assert.equal(dataAgeOf(ledger, 'staging'), null);

  ledger.recordBackup(backup('20261201T010000Z-aaaaaa', '2026-12-01T01:00:00.000Z'));
  assert.deepEqual(dataAgeOf(ledger, 'staging'), { source: 'backup', at: '2026-12-01T01:00:00.000Z', environment: 'staging', backupId: '20261201T010000Z-aaaaaa' });

  const good = ledger.startDataCopy({ trigger: 'schedule', sourceEnvironment: 'production', backupId: '20261130T030000Z-cccccc', backupCreatedAt: '2026-11-30T03:00:00.000Z', scrub: { file: 'scrub.sql', sha256: 'c'.repeat(64) }, who: 'agent' });
  ledger.finishDataCopy(good, { outcome: 'succeeded', deploymentId: 7 });
  const bad = ledger.startDataCopy({ trigger: 'schedule', sourceEnvironment: 'production', backupId: null, backupCreatedAt: null, scrub: null, who: 'agent' });
  ledger.finishDataCopy(bad, { outcome: 'failed', error: 'the store cannot be reached' });
  const age = dataAgeOf(ledger, 'staging');
  assert.equal(age?.source, 'copy');
  assert.equal(age!.at, '2026-11-30T03:00:00.000Z', "the source backup's time, though a later backup of staging exists");
  assert.deepEqual([age!.environment, age!.backupId, age!.scrubbed], ['production', '20261130T030000Z-cccccc', true]);
  assert.deepEqual((await dataAgeOfHost(layout, 'staging'))?.backupId, '20261130T030000Z-cccccc', 'read-only from the file');
  assert.equal(describeDataAge(age, new Date('2026-12-02T06:30:00.000Z')), "2 d 3 h old: a scrubbed copy of production's backup 20261130T030000Z-cccccc");
  assert.deepEqual(ledger.listDataCopies().map((c) => c.outcome), ['failed', 'succeeded'], 'newest first');
});

test('ages read as people say them', () => {
  const at = '2026-12-02T00:00:00.000Z';
  const after = (ms: number) => new Date(Date.parse(at) + ms);
  assert.equal(formatAge(at, after(45_000)), '45 s');
  assert.equal(formatAge(at, after(12 * 60_000)), '12 min');
  assert.equal(formatAge(at, after(3 * 3_600_000 + 12 * 60_000)), '3 h 12 min');
  assert.equal(formatAge(at, after(50 * 3_600_000)), '2 d 2 h');
  assert.equal(formatAge(at, after(-5_000)), '0 s', 'a clock a little behind is not a negative age');
});
