// createBackup / verifyBackup / restoreBackup end to end on SQLite and a folder
// (no database server needed), with the catalog in a real host ledger.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { DataConfig } from '../../src/config/types.js';
import { readBackupManifest, backupSetDigest, isBackupId } from '../../src/data/backup-manifest.js';
import { createBackup } from '../../src/data/backup-set.js';
import { sqliteEngine } from '../../src/data/engines/sqlite.js';
import { fingerprintFolder } from '../../src/data/engines/files.js';
import { restoreBackup } from '../../src/data/restore.js';
import { verifyBackup } from '../../src/data/verify.js';
import { flipByte, tempHost } from './fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';

const data: DataConfig = { databases: [{ name: 'main', engine: 'sqlite', path: 'data/app.db' }], folders: ['uploads'] };

function seed(sharedDir: string): { dbFile: string; uploads: string } {
  const dbFile = path.join(sharedDir, 'data', 'app.db');
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n REAL, raw BLOB)');
  const insert = db.prepare('INSERT INTO notes (body, n, raw) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= 500; i++) insert.run(i % 9 === 0 ? null : `note ${i} – ünïcode ✓`, i / 7, Buffer.from([i % 256, 0, 255]));
  })();
  db.close();
  const uploads = path.join(sharedDir, 'uploads');
  fs.mkdirSync(path.join(uploads, 'a', 'b'), { recursive: true });
  fs.writeFileSync(path.join(uploads, 'a', 'b', 'photo.bin'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) % 256)));
  fs.writeFileSync(path.join(uploads, 'readme.txt'), 'hello\n');
  return { dbFile, uploads };
}

const env = { PATH: process.env.PATH };

test('a backup holds every item, reads back to its checksums, is cataloged, verifies, and restores', async (t) => {
  const { layout, ledger } = await tempHost(t);
  const { dbFile, uploads } = seed(layout.sharedDir);
  const item = { kind: 'database' as const, name: 'main', engine: 'sqlite' as const, file: dbFile };
  const dbBefore = await sqliteEngine.fingerprint({ item, env });
  const filesBefore = await fingerprintFolder(uploads);
  const phases = new Set<string>();

  const record = await createBackup({
    layout,
    ledger,
    environment: 'production',
    data,
    env,
    releaseId: 'rel-aaa',
    releaseVersion: 'v1',
    reason: 'pre-deploy',
    deploymentId: 7,
    onProgress: (p) => phases.add(`${p.item}:${p.phase}`),
  });

  assert.ok(isBackupId(record.id), record.id);
  assert.deepEqual(record.release, { id: 'rel-aaa', version: 'v1' });
  assert.equal(record.reason, 'pre-deploy');
  assert.equal(record.environment, 'production');
  assert.equal(record.deploymentId, 7);
  assert.ok(record.verifiedAt, 'verified at creation');
  assert.deepEqual(
    record.items.map((i) => [i.name, i.engine, i.file]),
    [
      ['main', 'sqlite', 'db-main.sqlite.gz'],
      ['uploads', 'files', 'files-uploads.tar.gz'],
    ],
  );
  assert.equal(record.size, record.items.reduce((s, i) => s + i.size, 0));
  assert.equal(record.sha256, backupSetDigest(record.items));
  assert.ok(phases.has('main:backup') && phases.has('uploads:check'), [...phases].join(','));

  // On disk: exactly the items and backup.json, nothing temporary left.
  const dir = path.join(layout.backupsDir, record.id);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['backup.json', 'db-main.sqlite.gz', 'files-uploads.tar.gz']);
  assert.deepEqual(fs.readdirSync(layout.backupsDir), [record.id]);
  const manifest = await readBackupManifest(dir);
  assert.deepEqual(manifest.items[0].fingerprint, dbBefore, 'the recorded fingerprint is the data backed up');
  assert.deepEqual(manifest.items[1].fingerprint, filesBefore);
  assert.equal(dbBefore.notes.rows, 500);

  // In the catalog.
  assert.deepEqual(ledger.getBackup(record.id), record);
  assert.deepEqual(ledger.listBackups().map((b) => b.id), [record.id]);

  // Change everything, then restore.
  const db = new Database(dbFile);
  db.exec("DELETE FROM notes WHERE id % 2 = 0; UPDATE notes SET body = 'changed'; CREATE TABLE added_later (x)");
  db.close();
  fs.rmSync(path.join(uploads, 'a'), { recursive: true });
  fs.writeFileSync(path.join(uploads, 'new.txt'), 'new');
  assert.notDeepEqual(await sqliteEngine.fingerprint({ item, env }), dbBefore);

  const result = await restoreBackup({ layout, ledger, backupId: record.id, data, env });
  assert.deepEqual(result.restored, ['main', 'uploads']);
  assert.deepEqual(result.notInBackup, []);
  assert.deepEqual(await sqliteEngine.fingerprint({ item, env }), dbBefore);
  assert.deepEqual(await fingerprintFolder(uploads), filesBefore);
  assert.deepEqual(fs.readdirSync(path.dirname(dbFile)).filter((n) => n.startsWith('.')), [], 'no temp files beside the database');
  assert.deepEqual(fs.readdirSync(layout.sharedDir).filter((n) => n.startsWith('.')), [], 'no old or temp folders beside uploads');

  const report = await verifyBackup({ layout, ledger, backupId: record.id, data, env });
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.deepEqual(report.items.map((i) => [i.name, i.ok]), [['main', true], ['uploads', true]]);
  assert.equal(ledger.getBackup(record.id)?.verifiedAt, report.checkedAt);
});

test('a flipped byte: verify fails, restore refuses before touching anything', async (t) => {
  const { layout, ledger } = await tempHost(t);
  const { dbFile, uploads } = seed(layout.sharedDir);
  const record = await createBackup({ layout, ledger, environment: 'production', data, env, releaseId: null, reason: 'manual' });
  assert.equal(record.release, null);

  // The data moves on after the backup; a refused restore must leave it so.
  const db = new Database(dbFile);
  db.exec("INSERT INTO notes (body) VALUES ('written after the backup')");
  db.close();
  const item = { kind: 'database' as const, name: 'main', engine: 'sqlite' as const, file: dbFile };
  const dbNow = await sqliteEngine.fingerprint({ item, env });
  const filesNow = await fingerprintFolder(uploads);

  flipByte(path.join(layout.backupsDir, record.id, 'files-uploads.tar.gz'));
  const report = await verifyBackup({ layout, ledger, backupId: record.id, data, env });
  assert.equal(report.ok, false);
  assert.match(report.problems.join('\n'), /files-uploads\.tar\.gz: sha256/);

  await expectRejects(restoreBackup({ layout, ledger, backupId: record.id, data, env }), 'BACKUP_CORRUPT', { details: /files-uploads/ });
  assert.deepEqual(await sqliteEngine.fingerprint({ item, env }), dbNow, 'the database was not touched');
  assert.deepEqual(await fingerprintFolder(uploads), filesNow, 'the folder was not touched');
});

test('the structural check catches damage on its own (without the checksums)', async (t) => {
  const { layout, ledger } = await tempHost(t);
  seed(layout.sharedDir);
  const record = await createBackup({ layout, ledger, environment: 'production', data, env, releaseId: null, reason: 'manual' });
  const gz = path.join(layout.backupsDir, record.id, 'db-main.sqlite.gz');
  flipByte(gz);
  const item = { kind: 'database' as const, name: 'main', engine: 'sqlite' as const, file: '/unused' };
  await expectRejects(sqliteEngine.inspect({ item, file: gz, env }), 'BACKUP_CORRUPT');
});

test('a catalog entry that disagrees with backup.json makes the backup refused', async (t) => {
  const { layout, ledger } = await tempHost(t);
  seed(layout.sharedDir);
  const record = await createBackup({ layout, ledger, environment: 'production', data, env, releaseId: null, reason: 'manual' });
  // Someone swapped in another backup.json (with self-consistent digests): the catalog still knows the real one.
  const file = path.join(layout.backupsDir, record.id, 'backup.json');
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  manifest.items = manifest.items.slice(0, 1);
  manifest.sha256 = backupSetDigest(manifest.items);
  fs.writeFileSync(file, JSON.stringify(manifest));
  await expectRejects(restoreBackup({ layout, ledger, backupId: record.id, data, env }), 'BACKUP_CORRUPT');
});

test('a database that does not exist yet backs up as absent and restores as absent; a missing folder as empty', async (t) => {
  const { layout, ledger } = await tempHost(t);
  const record = await createBackup({ layout, ledger, environment: 'staging', data, env, releaseId: 'r1', reason: 'pre-deploy' });
  const manifest = await readBackupManifest(path.join(layout.backupsDir, record.id));
  assert.deepEqual(manifest.items.map((i) => i.fingerprint), [{}, {}]);

  // The update created both; restoring the pre-deploy backup takes them away again.
  seed(layout.sharedDir);
  await restoreBackup({ layout, ledger, backupId: record.id, data, env });
  assert.equal(fs.existsSync(path.join(layout.sharedDir, 'data', 'app.db')), false);
  assert.deepEqual(fs.readdirSync(path.join(layout.sharedDir, 'uploads')), []);
});

test('nothing configured, unknown ids, and items the target does not configure are refused', async (t) => {
  const { layout, ledger } = await tempHost(t);
  await expectRejects(createBackup({ layout, ledger, environment: 'p', data: { databases: [], folders: [] }, env, releaseId: null, reason: 'manual' }), 'BACKUP_NOTHING_CONFIGURED', { exitCode: 2 });
  await expectRejects(restoreBackup({ layout, ledger, backupId: '../../etc', data, env }), 'BACKUP_ID_INVALID');
  await expectRejects(restoreBackup({ layout, ledger, backupId: '20260101T000000Z-abcdef', data, env }), 'BACKUP_NOT_FOUND');

  seed(layout.sharedDir);
  const record = await createBackup({ layout, ledger, environment: 'p', data, env, releaseId: null, reason: 'manual' });
  await expectRejects(restoreBackup({ layout, ledger, backupId: record.id, data: { databases: [], folders: ['uploads'] }, env }), 'BACKUP_ITEM_UNMATCHED', { details: /database main/ });
  assert.ok(fs.existsSync(path.join(layout.sharedDir, 'uploads', 'readme.txt')), 'nothing was restored');
});

test('a failure mid-backup leaves no folder and no catalog entry', async (t) => {
  const { layout, ledger } = await tempHost(t);
  seed(layout.sharedDir);
  // Not a database: the SQLite item fails after nothing else was written.
  fs.writeFileSync(path.join(layout.sharedDir, 'data', 'app.db'), 'this is not sqlite, just text that is long enough to be read as a header......');
  await expectRejects(createBackup({ layout, ledger, environment: 'p', data, env, releaseId: null, reason: 'manual' }), 'BACKUP_SOURCE_INVALID');
  assert.deepEqual(fs.readdirSync(layout.backupsDir), []);
  assert.deepEqual(ledger.listBackups(), []);
});
