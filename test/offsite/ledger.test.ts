// Ledger migration 3: off-site copies recorded on the backups table of an existing ledger.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import { LEDGER_SCHEMA_VERSION, openLedger, type BackupRecord } from '../../src/host/ledger.js';
import { tempHost } from '../data/fixtures.js';
import { createLedgerAtVersion } from '../helpers/old-ledger.js';

const backup: BackupRecord = {
  id: '20261121T100000Z-aaaaaa',
  environment: 'production',
  release: { id: 'rel-1', version: 'v1' },
  reason: 'manual',
  createdAt: '2026-11-21T10:00:00.000Z',
  size: 10,
  sha256: 'a'.repeat(64),
  verifiedAt: '2026-11-21T10:00:01.000Z',
  durationMs: 5,
  deploymentId: null,
  items: [{ name: 'main', kind: 'database', engine: 'sqlite', file: 'db-main.sqlite.gz', size: 10, sha256: 'b'.repeat(64) }],
};

test('migration 3 keeps the backups of a version-2 ledger and lets them record off-site copies', async (t) => {
  const { layout, ledger } = await tempHost(t);
  ledger.close();
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${layout.ledgerFile}${suffix}`, { force: true });
  // A version-2 ledger with the backup in it.
  const raw = createLedgerAtVersion(layout.ledgerFile, 2);
  raw
    .prepare(
      `INSERT INTO backups (id, environment, release_id, release_version, reason, deployment_id, created_at, size, sha256, duration_ms, verified_at, items_json)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(backup.id, backup.environment, backup.release!.id, backup.release!.version, backup.reason, backup.deploymentId, backup.createdAt, backup.size, backup.sha256, backup.durationMs, backup.verifiedAt, JSON.stringify(backup.items));
  raw.close();

  const reopened = openLedger(layout.ledgerFile);
  t.after(() => reopened.close());
  assert.ok(LEDGER_SCHEMA_VERSION >= 3);
  assert.deepEqual(reopened.getBackup(backup.id), backup, 'kept, and without an off-site copy');

  const copy = { key: `notes/backups/production/${backup.id}/`, keyId: '0123456789abcdef', at: '2026-11-21T10:05:00.000Z' };
  assert.equal(reopened.markBackupOffsite(backup.id, copy), true);
  assert.deepEqual(reopened.getBackup(backup.id), { ...backup, offsite: copy });
  assert.deepEqual(reopened.listBackups()[0].offsite, copy);
  assert.equal(reopened.markBackupOffsite('20261121T100000Z-bbbbbb', copy), false);
  assert.equal(reopened.markBackupOffsite(backup.id, null), true);
  assert.deepEqual(reopened.getBackup(backup.id), backup);

  // A record carrying its copy (a fetched backup) keeps it.
  const fetched = { ...backup, id: '20261121T110000Z-cccccc', offsite: copy };
  reopened.recordBackup(fetched);
  assert.deepEqual(reopened.getBackup(fetched.id), fetched);
});
