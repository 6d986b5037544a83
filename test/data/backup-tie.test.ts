// Tying a rollout's backup to the update that uses it: one write to the catalog, so
// a crash never leaves the backup without its entry; a claimed backup stays its update's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { BackupRecord } from '../../src/host/ledger.js';
import { backupUndoing, tieBackupToDeployment } from '../../src/data/catalog.js';
import { tempHost } from './fixtures.js';
import { expectThrows } from '../helpers/expect-error.js';

function rolloutBackup(id: string): BackupRecord {
  return {
    id,
    environment: 'production',
    release: { id: 'rel-1', version: 'v1' },
    reason: 'pre-deploy',
    createdAt: '2026-11-21T10:00:00.000Z',
    size: 10,
    sha256: 'a'.repeat(64),
    verifiedAt: '2026-11-21T10:00:01.000Z',
    durationMs: 5,
    deploymentId: null,
    items: [{ name: 'main', kind: 'database', engine: 'sqlite', file: 'db-main.sqlite.gz', size: 10, sha256: 'b'.repeat(64) }],
  };
}

test('tying updates the entry in place: never deleted, every other field kept', async (t) => {
  const { layout, ledger } = await tempHost(t);
  const backup = rolloutBackup('20261121T100000Z-000001');
  ledger.recordBackup(backup);
  assert.equal(ledger.markBackupOffsite(backup.id, { key: 'app/production/backups/x/', keyId: 'k1', at: '2026-11-21T10:00:02.000Z' }), true);
  const before = ledger.getBackup(backup.id)!;

  // A second connection forbids deleting any catalog entry: a tie written as remove-then-insert would fail here.
  const guard = new Database(layout.ledgerFile);
  guard.exec("CREATE TRIGGER no_backup_deletes BEFORE DELETE ON backups BEGIN SELECT RAISE(ABORT, 'a backup entry was deleted'); END");
  guard.close();

  const tied = tieBackupToDeployment(ledger, backup, 7);
  assert.deepEqual(tied, { ...before, deploymentId: 7 });
  assert.deepEqual(ledger.getBackup(backup.id), { ...before, deploymentId: 7 }, 'verified and off-site fields are kept');
  assert.deepEqual(ledger.listBackups({ deploymentId: 7 }).map((b) => b.id), [backup.id]);
  assert.equal(ledger.listBackups().length, 1);
  // What the update's undo, recovery and `rollback --with-data` look for.
  assert.equal(backupUndoing(ledger, { id: 7, fromId: 'rel-1' })?.id, backup.id);
  // The guard does bite: a delete is refused.
  assert.throws(() => ledger.removeBackup(backup.id), /a backup entry was deleted/);
});

test('the ledger ties only an unclaimed backup; the catalog repeats a tie and refuses to move one', async (t) => {
  const { ledger } = await tempHost(t);
  const backup = rolloutBackup('20261121T100000Z-000002');
  ledger.recordBackup(backup);

  assert.equal(ledger.tieBackupToDeployment(backup.id, 3), true);
  assert.equal(ledger.tieBackupToDeployment(backup.id, 3), false, 'already claimed: nothing written');
  assert.equal(ledger.tieBackupToDeployment(backup.id, 4), false);
  assert.equal(ledger.tieBackupToDeployment('20261121T100000Z-ffffff', 3), false, 'no such backup');
  assert.equal(ledger.getBackup(backup.id)?.deploymentId, 3);

  // The same update again (a step run twice): the entry as it is.
  assert.equal(tieBackupToDeployment(ledger, backup, 3).deploymentId, 3);
  const claimed = expectThrows(() => tieBackupToDeployment(ledger, backup, 4), 'BACKUP_ALREADY_CLAIMED');
  assert.match(claimed.message, /already belongs to update #3/);
  assert.equal(ledger.getBackup(backup.id)?.deploymentId, 3, 'a claimed backup stays its update\'s');
  expectThrows(() => tieBackupToDeployment(ledger, rolloutBackup('20261121T100000Z-ffffff'), 4), 'BACKUP_NOT_FOUND');
});
