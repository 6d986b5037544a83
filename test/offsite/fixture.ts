// Shared pieces of the off-site tests: a host with a real SQLite database and an
// uploads folder, a real backup of them, fingerprints to compare restores with, and
// the raw bytes of every object a store holds.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { DataConfig } from '../../src/config/types.js';
import { createBackup } from '../../src/data/backup-set.js';
import { fingerprintFolder } from '../../src/data/engines/files.js';
import { sqliteEngine } from '../../src/data/engines/sqlite.js';
import type { Fingerprint } from '../../src/data/types.js';
import type { HostLayout } from '../../src/host/layout.js';
import type { BackupRecord, Ledger } from '../../src/host/ledger.js';
import { tempHost } from '../data/fixtures.js';

export const APP = 'notes';
export const ENVIRONMENT = 'production';
export const data: DataConfig = { databases: [{ name: 'main', engine: 'sqlite', path: 'data/app.db' }], folders: ['uploads'] };
export const env = { PATH: process.env.PATH };
/** Text that sits in the uploads folder: it must never be readable in the store. */
export const SECRET_NOTE = 'the launch code is 0000 and this sentence is plaintext';

export interface Host {
  layout: HostLayout;
  ledger: Ledger;
}

export function newKey(): { key: Buffer; text: string } {
  const key = randomBytes(32);
  return { key, text: key.toString('base64') };
}

function dbItem(layout: HostLayout) {
  return { kind: 'database' as const, name: 'main', engine: 'sqlite' as const, file: path.join(layout.sharedDir, 'data', 'app.db') };
}

/** A host whose database and folder hold data, and a verified backup of them. */
export async function hostWithBackup(t: { after(fn: () => unknown): void }): Promise<Host & { backup: BackupRecord; before: { db: Fingerprint; files: Fingerprint } }> {
  const host = await tempHost(t);
  const { layout } = host;
  const dbFile = dbItem(layout).file;
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const db = new Database(dbFile);
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, raw BLOB)');
  const insert = db.prepare('INSERT INTO notes (body, raw) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= 300; i++) insert.run(`note ${i}: ${SECRET_NOTE}`, randomBytes(16));
  })();
  db.close();
  const uploads = path.join(layout.sharedDir, 'uploads');
  fs.mkdirSync(path.join(uploads, 'photos'), { recursive: true });
  fs.writeFileSync(path.join(uploads, 'photos', 'cat.bin'), randomBytes(20_000));
  fs.writeFileSync(path.join(uploads, 'secret.txt'), `${SECRET_NOTE}\n`);

  const before = await fingerprints(layout);
  assert.equal(before.db.notes.rows, 300);
  const backup = await createBackup({ ...host, environment: ENVIRONMENT, data, env, releaseId: 'rel-1', releaseVersion: 'v1', reason: 'manual' });
  return { ...host, backup, before };
}

export async function fingerprints(layout: HostLayout): Promise<{ db: Fingerprint; files: Fingerprint }> {
  return {
    db: await sqliteEngine.fingerprint({ item: dbItem(layout), env }),
    files: await fingerprintFolder(path.join(layout.sharedDir, 'uploads')),
  };
}

/** Changes the live data so that a restore has something to undo. */
export function changeData(layout: HostLayout): void {
  const db = new Database(dbItem(layout).file);
  db.exec("DELETE FROM notes WHERE id % 3 = 0; UPDATE notes SET body = 'changed'");
  db.close();
  fs.rmSync(path.join(layout.sharedDir, 'uploads', 'photos'), { recursive: true });
  fs.writeFileSync(path.join(layout.sharedDir, 'uploads', 'new.txt'), 'new');
}

/** Entries of backups/ (temporary folders included). */
export function backupsDirEntries(layout: HostLayout): string[] {
  return fs.existsSync(layout.backupsDir) ? fs.readdirSync(layout.backupsDir).sort() : [];
}

/** Checks that no object holds recognisable plaintext of the backup. */
export function assertNoPlaintext(objects: Map<string, Buffer>, backupDir: string): void {
  const plainFiles = fs.readdirSync(backupDir).map((name) => fs.readFileSync(path.join(backupDir, name)));
  const needles = [
    Buffer.from('SQLite format 3'),
    Buffer.from(SECRET_NOTE),
    Buffer.from('"fingerprint"'),
    Buffer.from('"items"'),
    // the start of every plaintext file (gzip headers and all)
    ...plainFiles.map((bytes) => bytes.subarray(0, 32)),
  ];
  for (const [key, bytes] of objects) {
    if (key.endsWith('/index.json')) continue;
    assert.ok(bytes.subarray(0, 7).equals(Buffer.from('SLWYENC')), `${key} starts with slipway's encryption header`);
    for (const needle of needles) assert.equal(bytes.indexOf(needle), -1, `${key} contains plaintext (${needle.subarray(0, 16).toString('hex')}…)`);
  }
}
