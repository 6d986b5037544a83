// Disk full during a backup: the backups folder is a tiny tmpfs (mounted as root;
// skipped loudly when mounting is not possible). The error is BACKUP_DISK_FULL and
// no partial file, folder or catalog entry is left.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { createBackup } from '../../src/data/backup-set.js';
import { postgresEngine } from '../../src/data/engines/postgres.js';
import { sqliteEngine } from '../../src/data/engines/sqlite.js';
import { expectRejects } from '../helpers/expect-error.js';
import { postgresOrSkip, skipLoudly, tempDir, tempHost } from './fixtures.js';

const env = { PATH: process.env.PATH };

/**
 * Runs `body` with a 256 KiB tmpfs mounted on `dir`, unmounted afterwards (before the
 * temp folders are removed). Skips loudly when mounting is not possible here.
 */
async function withTinyDisk(t: TestContext, dir: string, body: () => Promise<void>): Promise<void> {
  if (process.getuid?.() !== 0) return skipLoudly(t, 'mounting a size-limited tmpfs needs root');
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', dir], { encoding: 'utf8' });
  if (result.status !== 0) return skipLoudly(t, `cannot mount a tmpfs here: ${(result.stderr || result.error?.message || '').trim()}`);
  try {
    await body();
  } finally {
    spawnSync('umount', [dir]);
  }
}

/** Awaits a BACKUP_DISK_FULL that says the disk is full and that the partial file was removed. */
async function expectDiskFull(subject: Promise<unknown>): Promise<void> {
  const error = await expectRejects(subject, 'BACKUP_DISK_FULL', /disk is full/i);
  assert.match(error.message, /removed/);
}

test('createBackup on a full disk: BACKUP_DISK_FULL, nothing left in backups/, nothing cataloged', async (t) => {
  const { layout, ledger } = await tempHost(t);
  const uploads = path.join(layout.sharedDir, 'uploads');
  fs.mkdirSync(uploads);
  fs.writeFileSync(path.join(uploads, 'video.bin'), randomBytes(1024 * 1024)); // incompressible, 4× the disk
  await withTinyDisk(t, layout.backupsDir, async () => {
    await expectDiskFull(createBackup({ layout, ledger, environment: 'p', data: { databases: [], folders: ['uploads'] }, env, releaseId: 'r', reason: 'pre-deploy' }));
    assert.deepEqual(fs.readdirSync(layout.backupsDir), []);
    assert.deepEqual(ledger.listBackups(), []);
    // Nothing is held: the disk is empty again.
    assert.equal(spawnSync('df', ['--output=used', layout.backupsDir], { encoding: 'utf8' }).stdout.trim().split('\n').pop()?.trim(), '0');
  });
});

test('SQLite on a full disk: the online copy fails cleanly, no copy and no partial file remain', async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, 'backups');
  fs.mkdirSync(out);
  const file = path.join(dir, 'app.db');
  const db = new Database(file);
  db.exec('CREATE TABLE blobs (b BLOB)');
  const insert = db.prepare('INSERT INTO blobs VALUES (?)');
  for (let i = 0; i < 16; i++) insert.run(randomBytes(64 * 1024));
  db.close();
  await withTinyDisk(t, out, async () => {
    const item = { kind: 'database' as const, name: 'm', engine: 'sqlite' as const, file };
    await expectDiskFull(sqliteEngine.backup({ item, outFile: path.join(out, 'db.sqlite.gz'), env }));
    assert.deepEqual(fs.readdirSync(out), []);
  });
});

test('PostgreSQL on a full disk: pg_dump is stopped, the partial file removed', async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, 'backups');
  fs.mkdirSync(out);
  const pg = await postgresOrSkip(t);
  if (!pg) return;
  t.after(() => pg.stop());
  await pg.runTool('psql', [
    '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', pg.socketDir, '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres',
    '-c', "CREATE TABLE blobs AS SELECT i, decode(string_agg(md5(random()::text || j), ''), 'hex') AS b FROM generate_series(1, 64) i, generate_series(1, 1000) j GROUP BY i",
  ]);
  const item = { kind: 'database' as const, name: 'main', engine: 'postgres' as const, urlEnv: 'DATABASE_URL' };
  await withTinyDisk(t, out, async () => {
    await expectDiskFull(postgresEngine.backup({ item, outFile: path.join(out, 'db.pgdump'), env: { ...env, DATABASE_URL: pg.url } }));
    assert.deepEqual(fs.readdirSync(out), []);
  });
});
