// The backup catalog in the host ledger (migration 2) and the questions asked of it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LEDGER_SCHEMA_VERSION, openLedger, type BackupRecord, type Ledger } from '../../src/host/ledger.js';
import { backupBeforeDeployment, deleteBackup, getBackup, latestBackupOfRelease, listBackups, protectedBackupIds } from '../../src/data/catalog.js';
import { pruneBackups } from '../../src/data/prune-backups.js';
import { tempHost } from './fixtures.js';
import { createLedgerAtVersion } from '../helpers/old-ledger.js';
import { expectThrows } from '../helpers/expect-error.js';

let counter = 0;
function record(o: Partial<BackupRecord> & { createdAt: string }): BackupRecord {
  counter += 1;
  const stamp = o.createdAt.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return {
    id: `${stamp}-${counter.toString(16).padStart(6, '0')}`,
    environment: 'production',
    release: { id: 'rel-1', version: 'v1' },
    reason: 'manual',
    size: 10,
    sha256: 'a'.repeat(64),
    verifiedAt: o.createdAt,
    durationMs: 5,
    deploymentId: null,
    items: [{ name: 'main', kind: 'database', engine: 'sqlite', file: 'db-main.sqlite.gz', size: 10, sha256: 'b'.repeat(64) }],
    ...o,
  };
}

/** A backup folder on disk with its catalog entry. */
function store(layout: { backupsDir: string }, ledger: Ledger, backup: BackupRecord): BackupRecord {
  fs.mkdirSync(path.join(layout.backupsDir, backup.id));
  fs.writeFileSync(path.join(layout.backupsDir, backup.id, 'backup.json'), '{}');
  ledger.recordBackup(backup);
  return backup;
}

test('migration 2 adds the backups table to a ledger written by the previous version', async (t) => {
  const { layout, ledger } = await tempHost(t);
  ledger.close();
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${layout.ledgerFile}${suffix}`, { force: true });
  // A version-1 ledger with a deployment in it.
  const raw = createLedgerAtVersion(layout.ledgerFile, 1);
  const deployment = Number(
    raw
      .prepare(`INSERT INTO deployments (kind, from_id, to_id, from_version, to_version, reason, who, started_at) VALUES ('deploy', NULL, 'a', NULL, 'v1', 'r', 'w', ?)`)
      .run(new Date().toISOString()).lastInsertRowid,
  );
  raw.close();

  const reopened = openLedger(layout.ledgerFile);
  t.after(() => reopened.close());
  assert.ok(LEDGER_SCHEMA_VERSION >= 2);
  assert.equal(reopened.getDeployment(deployment)?.toVersion, 'v1', 'existing history is kept');
  const b = record({ createdAt: '2026-11-21T10:00:00.000Z' });
  reopened.recordBackup(b);
  assert.deepEqual(reopened.getBackup(b.id), b);
});

test('record, list (newest first, filtered), mark verified and remove', async (t) => {
  const { ledger } = await tempHost(t);
  const older = record({ createdAt: '2026-11-20T10:00:00.000Z', verifiedAt: null, release: null });
  const newer = record({ createdAt: '2026-11-21T10:00:00.000Z', environment: 'staging', deploymentId: 3, reason: 'pre-deploy' });
  ledger.recordBackup(older);
  ledger.recordBackup(newer);
  assert.deepEqual(listBackups(ledger).map((b) => b.id), [newer.id, older.id]);
  assert.deepEqual(listBackups(ledger, { environment: 'production' }), [older]);
  assert.deepEqual(ledger.listBackups({ deploymentId: 3 }), [newer]);
  assert.deepEqual(getBackup(ledger, older.id).release, null);

  assert.equal(ledger.markBackupVerified(older.id, '2026-11-22T00:00:00.000Z'), true);
  assert.equal(getBackup(ledger, older.id).verifiedAt, '2026-11-22T00:00:00.000Z');
  assert.equal(ledger.markBackupVerified('nope'), false);

  assert.equal(ledger.removeBackup(older.id), true);
  expectThrows(() => getBackup(ledger, older.id), 'BACKUP_NOT_FOUND');
  assert.throws(() => ledger.recordBackup(newer), /UNIQUE/);
});

test('the backup that undoes a deployment: its own pre-deploy backup, else the newest verified one of the release it replaced', async (t) => {
  const { ledger } = await tempHost(t);
  const d1 = ledger.startDeployment({ kind: 'deploy', fromId: 'rel-1', toId: 'rel-2', fromVersion: 'v1', toVersion: 'v2', reason: 'r', who: 'w' });
  const unverified = record({ createdAt: '2026-11-21T10:00:00.000Z', deploymentId: d1, reason: 'pre-deploy', verifiedAt: null });
  const own = record({ createdAt: '2026-11-21T10:00:01.000Z', deploymentId: d1, reason: 'pre-deploy' });
  const post = record({ createdAt: '2026-11-21T10:05:00.000Z', deploymentId: d1, reason: 'post-deploy', release: { id: 'rel-2', version: 'v2' } });
  for (const b of [unverified, own, post]) ledger.recordBackup(b);
  ledger.finishDeployment(d1, { outcome: 'succeeded' });
  assert.equal(backupBeforeDeployment(ledger, d1)?.id, own.id);

  // A deployment whose backup was not linked to it: the newest verified backup of rel-2 before it finished.
  const d2 = ledger.startDeployment({ kind: 'deploy', fromId: 'rel-2', toId: 'rel-3', fromVersion: 'v2', toVersion: 'v3', reason: 'r', who: 'w' });
  assert.equal(backupBeforeDeployment(ledger, d2)?.id, post.id);
  assert.equal(latestBackupOfRelease(ledger, { releaseId: 'rel-1' })?.id, own.id);
  assert.equal(latestBackupOfRelease(ledger, { releaseId: 'rel-9' }), null);
  assert.equal(backupBeforeDeployment(ledger, 999), null);
});

test('protected: backups of an unfinished deployment and the one rollback --with-data would restore', async (t) => {
  const { ledger } = await tempHost(t);
  const done = ledger.startDeployment({ kind: 'deploy', fromId: 'rel-1', toId: 'rel-2', fromVersion: 'v1', toVersion: 'v2', reason: 'r', who: 'w' });
  const undo = record({ createdAt: '2026-11-01T00:00:00.000Z', deploymentId: done, reason: 'pre-deploy' });
  ledger.recordBackup(undo);
  ledger.finishDeployment(done, { outcome: 'succeeded' });
  const running = ledger.startDeployment({ kind: 'deploy', fromId: 'rel-2', toId: 'rel-3', fromVersion: 'v2', toVersion: 'v3', reason: 'r', who: 'w' });
  const inFlight = record({ createdAt: '2026-11-02T00:00:00.000Z', deploymentId: running, reason: 'pre-deploy', release: { id: 'rel-2', version: 'v2' } });
  const unrelated = record({ createdAt: '2026-11-03T00:00:00.000Z' });
  ledger.recordBackup(inFlight);
  ledger.recordBackup(unrelated);
  assert.deepEqual([...protectedBackupIds(ledger)].sort(), [undo.id, inFlight.id].sort());
});

test('pruneBackups deletes folders and entries the policy drops, keeps protected ones, clears old leftovers', async (t) => {
  const { layout, ledger } = await tempHost(t);
  const deployment = ledger.startDeployment({ kind: 'deploy', fromId: 'rel-1', toId: 'rel-2', fromVersion: 'v1', toVersion: 'v2', reason: 'r', who: 'w' });
  const oldest = store(layout, ledger, record({ createdAt: '2026-10-01T00:00:00.000Z', deploymentId: deployment, reason: 'pre-deploy' }));
  const middle = store(layout, ledger, record({ createdAt: '2026-10-15T00:00:00.000Z' }));
  const newest = store(layout, ledger, record({ createdAt: '2026-11-20T00:00:00.000Z', verifiedAt: null }));
  const leftover = path.join(layout.backupsDir, '.20261001T000000Z-abcdef.partial');
  fs.mkdirSync(leftover);
  fs.utimesSync(leftover, new Date('2026-10-01T00:00:00Z'), new Date('2026-10-01T00:00:00Z'));
  const fresh = path.join(layout.backupsDir, '.20261121T000000Z-abcdef.partial');
  fs.mkdirSync(fresh);

  const now = new Date('2026-11-21T12:00:00Z');
  const dry = await pruneBackups({ layout, ledger, policy: { last: 1, daily: 0, weekly: 0 }, now, dryRun: true });
  assert.deepEqual(dry.pruned.map((b) => b.id), []);
  // oldest: protected (the deployment is unfinished); middle: the newest verified; newest: last 1.
  assert.deepEqual(dry.kept.map((k) => [k.backup.id, k.reasons]), [
    [newest.id, ['last']],
    [middle.id, ['newest-verified']],
    [oldest.id, ['protected']],
  ]);

  ledger.finishDeployment(deployment, { outcome: 'failed', error: 'x' });
  const result = await pruneBackups({ layout, ledger, policy: { last: 1, daily: 0, weekly: 0 }, now });
  assert.deepEqual(result.pruned.map((b) => b.id), [oldest.id]);
  assert.deepEqual(result.leftovers, [path.basename(leftover)]);
  assert.deepEqual(fs.readdirSync(layout.backupsDir).sort(), [newest.id, middle.id, path.basename(fresh)].sort());
  assert.deepEqual(listBackups(ledger).map((b) => b.id), [newest.id, middle.id]);

  await deleteBackup({ layout, ledger, id: middle.id });
  assert.equal(fs.existsSync(path.join(layout.backupsDir, middle.id)), false);
  assert.equal(ledger.getBackup(middle.id), null);
});
