// The SQLite engine: round trip of varied types, and a backup taken while another
// process keeps inserting is consistent and holds every row committed before it started.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { sqliteEngine } from '../../src/data/engines/sqlite.js';
import { runScrubSql } from '../../src/data/scrub.js';
import { tempDir } from './fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';

const env = { PATH: process.env.PATH };

function seedVaried(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, price REAL, big INTEGER, photo BLOB, made TEXT);
    CREATE TABLE "odd ""name""" (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
    CREATE TABLE empty_one (x);
    CREATE INDEX items_by_label ON items (label);
  `);
  const insert = db.prepare('INSERT INTO items (label, price, big, photo, made) VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= 3000; i++) {
      insert.run(
        i % 11 === 0 ? null : `ïtem ${i} ✓ 日本 ${'x'.repeat(i % 40)}`,
        i % 13 === 0 ? null : i / 3,
        BigInt(i) * 1_000_000_000_007n,
        i % 4 === 0 ? null : Buffer.from(Array.from({ length: 64 }, (_, j) => (i * j) % 256)),
        new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
      );
    }
    const odd = db.prepare('INSERT INTO "odd ""name""" (k, v) VALUES (?, ?)');
    for (let i = 0; i < 100; i++) odd.run(`k${i}`, i % 2 ? i : `v${i}`);
  })();
  db.close();
}

test('round trip: restore(backup(db)) equals db; the restore replaces the file atomically and keeps its mode', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'shared', 'app.db');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  seedVaried(file);
  fs.chmodSync(file, 0o640);
  const item = { kind: 'database' as const, name: 'main', engine: 'sqlite' as const, file };
  const original = await sqliteEngine.fingerprint({ item, env });
  assert.equal(original.items.rows, 3000);
  assert.equal(original['odd "name"'].rows, 100);
  assert.equal(original.empty_one.rows, 0);

  const backupFile = path.join(dir, 'db.sqlite.gz');
  const written = await sqliteEngine.backup({ item, outFile: backupFile, env });
  assert.equal(written.bytes, fs.statSync(backupFile).size);
  assert.deepEqual(await sqliteEngine.inspect({ item, file: backupFile, env }), original);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['db.sqlite.gz', 'shared'], 'the temporary copy is gone');

  const db = new Database(file);
  db.exec("DELETE FROM items WHERE id > 100; UPDATE items SET big = 0; DROP TABLE empty_one; CREATE TABLE added_later (x)");
  db.close();
  assert.notDeepEqual(await sqliteEngine.fingerprint({ item, env }), original);

  await sqliteEngine.restore({ item, file: backupFile, env });
  assert.deepEqual(await sqliteEngine.fingerprint({ item, env }), original);
  assert.equal(fs.statSync(file).mode & 0o777, 0o640);
  assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((n) => n !== 'app.db' && !n.endsWith('-wal') && !n.endsWith('-shm')), []);
  assert.deepEqual(await sqliteEngine.scratchFingerprint({ item, file: backupFile, env }), original);
});

test('a backup taken while another process inserts is consistent and holds every row committed before it started', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'busy.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)');
  // Some bulk so the copy takes a moment.
  const bulk = db.prepare('INSERT INTO events (payload) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) bulk.run('x'.repeat(200));
  })();
  db.close();

  const betterSqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const writerScript = `
    const Database = require(${JSON.stringify(betterSqlite)});
    const db = new Database(${JSON.stringify(file)});
    db.pragma('busy_timeout = 5000');
    const insert = db.prepare('INSERT INTO events (payload) VALUES (?)');
    let n = 0;
    process.stdin.on('data', () => process.exit(0));
    (function loop() {
      for (let i = 0; i < 50; i++) insert.run('writer ' + (n++));
      if (n % 500 === 0) process.stdout.write(n + '\\n');
      setImmediate(loop);
    })();
  `;
  const writer = spawn(process.execPath, ['-e', writerScript], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => writer.kill('SIGKILL'));
  // Wait until the writer is well under way.
  await new Promise<void>((resolve, reject) => {
    writer.stdout.on('data', (chunk: Buffer) => {
      if (Number(chunk.toString().trim().split('\n').pop()) >= 1000) resolve();
    });
    writer.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
  });

  const reader = new Database(file, { readonly: true });
  const maxBefore = (reader.prepare('SELECT MAX(id) AS id FROM events').get() as { id: number }).id;
  reader.close();

  const item = { kind: 'database' as const, name: 'busy', engine: 'sqlite' as const, file };
  const backupFile = path.join(dir, 'busy.sqlite.gz');
  await sqliteEngine.backup({ item, outFile: backupFile, env });
  const writerExited = new Promise((resolve) => writer.once('exit', resolve));
  writer.stdin.end('stop\n');
  await writerExited;

  const copy = path.join(dir, 'copy.db');
  fs.writeFileSync(copy, gunzipSync(fs.readFileSync(backupFile)));
  const restored = new Database(copy);
  t.after(() => restored.close());
  assert.equal(restored.pragma('integrity_check', { simple: true }), 'ok');
  const upTo = restored.prepare('SELECT COUNT(*) AS n FROM events WHERE id <= ?').get(maxBefore) as { n: number };
  assert.equal(upTo.n, maxBefore, 'every row committed before the backup started is in it');
  const total = restored.prepare('SELECT COUNT(*) AS n, MAX(id) AS max FROM events').get() as { n: number; max: number };
  assert.equal(total.n, total.max, 'no gaps: the copy is one snapshot');
  t.diagnostic(`rows committed before the backup started: ${maxBefore}; rows in the backup: ${total.n}`);
  // And the engine's own check agrees.
  const fingerprint = await sqliteEngine.inspect({ item, file: backupFile, env });
  assert.equal(fingerprint.events.rows, total.n);
});

test('a file that is not a database is refused, and the scrub runs in one transaction', async (t) => {
  const dir = tempDir(t);
  const bogus = path.join(dir, 'bogus.db');
  fs.writeFileSync(bogus, 'not a database '.repeat(100));
  const item = { kind: 'database' as const, name: 'main', engine: 'sqlite' as const, file: bogus };
  const out = path.join(dir, 'out.gz');
  await expectRejects(sqliteEngine.backup({ item, outFile: out, env }), 'BACKUP_SOURCE_INVALID');
  assert.equal(fs.existsSync(out), false);

  const file = path.join(dir, 'app.db');
  seedVaried(file);
  const good = { ...item, file };
  const sql = path.join(dir, 'scrub.sql');
  fs.writeFileSync(sql, "UPDATE items SET label = 'scrubbed'; SELECT no_such_function();");
  await expectRejects(runScrubSql({ item: good, env, sqlFile: sql }), 'BACKUP_SCRUB_FAILED');
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  assert.equal((db.prepare("SELECT COUNT(*) AS n FROM items WHERE label = 'scrubbed'").get() as { n: number }).n, 0);
  fs.writeFileSync(sql, "UPDATE items SET label = 'scrubbed' WHERE id <= 10;");
  await runScrubSql({ item: good, env, sqlFile: sql });
  assert.equal((db.prepare("SELECT COUNT(*) AS n FROM items WHERE label = 'scrubbed'").get() as { n: number }).n, 10);
});
