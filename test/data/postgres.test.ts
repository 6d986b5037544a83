// The PostgreSQL engine against a real server started for this file. The app
// connects as its own role with a password (scram over TCP), like on a real host.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { DataConfig } from '../../src/config/types.js';
import { SlipwayError } from '../../src/errors.js';
import { readBackupManifest } from '../../src/data/backup-manifest.js';
import { createBackup } from '../../src/data/backup-set.js';
import { postgresEngine } from '../../src/data/engines/postgres.js';
import { restoreBackup } from '../../src/data/restore.js';
import { runScrubSql } from '../../src/data/scrub.js';
import { verifyBackup } from '../../src/data/verify.js';
import { PostgresUnavailableError, startPostgres, type RunningPostgres } from '../helpers/postgres.js';
import { allErrorText, flipByte, tempDir, tempHost } from './fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';

const PASSWORD = 'S3cret p@ss/word:%é';
const data: DataConfig = { databases: [{ name: 'main', engine: 'postgres', urlEnv: 'DATABASE_URL' }], folders: [] };
const item = { kind: 'database' as const, name: 'main', engine: 'postgres' as const, urlEnv: 'DATABASE_URL' };

const SEED = `
CREATE TABLE people (
  id serial PRIMARY KEY, name text NOT NULL, email text, score numeric(10,2), ratio double precision,
  born date, seen timestamptz, active boolean, avatar bytea, tags text[], meta jsonb
);
INSERT INTO people (name, email, score, ratio, born, seen, active, avatar, tags, meta)
SELECT 'Ünïcødé ' || i || ' ✓ 日本', CASE WHEN i % 7 = 0 THEN NULL ELSE 'user' || i || '@example.com' END,
       i * 1.25, i / 3.0, DATE '2000-01-01' + i, TIMESTAMPTZ '2024-01-01 00:00:00+00' + i * INTERVAL '1 minute',
       i % 2 = 0, CASE WHEN i % 5 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END,
       ARRAY['a' || i, E'tab\\there'], jsonb_build_object('i', i, 'line', E'multi\\nline')
FROM generate_series(1, 3000) AS i;
CREATE INDEX people_by_email ON people (email);
CREATE TABLE "Mixed Case" (k text PRIMARY KEY, v text);
INSERT INTO "Mixed Case" SELECT 'k' || i, repeat('x', i) FROM generate_series(1, 200) AS i;
CREATE TABLE empty_table (x int);
CREATE VIEW active_people AS SELECT id, name FROM people WHERE active;
`;

describe('PostgreSQL backups', { timeout: 180_000 }, () => {
  let pg: RunningPostgres | null = null;
  let url = '';
  let env: Record<string, string | undefined> = {};
  let skipReason: string | null = null;

  /** SQL as the superuser over the unix socket (trust). */
  const admin = (sql: string, database = 'postgres') =>
    pg!.runTool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg!.socketDir, '-p', String(pg!.port), '-U', 'postgres', '-d', database, '-c', sql]);
  /** SQL as the app's role over the socket (trust), into the app's database. */
  const asApp = (sql: string) =>
    pg!.runTool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg!.socketDir, '-p', String(pg!.port), '-U', 'app', '-d', 'app', '-c', sql]);

  before(async () => {
    try {
      pg = await startPostgres();
    } catch (err) {
      if (!(err instanceof PostgresUnavailableError)) throw err;
      skipReason = `PostgreSQL cannot run here: ${err.message}`;
      return;
    }
    const quoted = PASSWORD.replace(/'/g, "''");
    await admin(`CREATE ROLE app LOGIN CREATEDB PASSWORD '${quoted}'`);
    await admin('CREATE DATABASE app OWNER app');
    // Password (scram) for the app over TCP; the superuser keeps trust for the test's own setup.
    const hbaFile = (await admin('SHOW hba_file')).trim();
    fs.writeFileSync(hbaFile, ['local all all trust', 'host all postgres 127.0.0.1/32 trust', 'host all all 127.0.0.1/32 scram-sha-256', ''].join('\n'));
    await admin('SELECT pg_reload_conf()');
    await asApp(SEED);
    url = `postgres://app:${encodeURIComponent(PASSWORD)}@127.0.0.1:${pg.port}/app`;
    env = { DATABASE_URL: url, PATH: process.env.PATH };
  });
  after(() => pg?.stop());

  const skipIfNoServer = (t: TestContext): boolean => {
    if (pg) return false;
    t.diagnostic(`SKIPPED: ${skipReason}`);
    t.skip(skipReason ?? 'no PostgreSQL');
    return true;
  };

  test('round trip: restore(backup(db)) equals db, objects created after the backup are gone, verify passes', async (t) => {
    if (skipIfNoServer(t)) return;
    const { layout, ledger } = await tempHost(t);
    const original = await postgresEngine.fingerprint({ item, env });
    assert.equal(original['public.people'].rows, 3000);
    assert.equal(original['public."Mixed Case"'].rows, 200);
    assert.equal(original['public.empty_table'].rows, 0);
    assert.ok(original['sequence public.people_id_seq'], 'sequence values are part of the fingerprint');

    const record = await createBackup({ layout, ledger, environment: 'production', data, env, releaseId: 'r1', releaseVersion: 'v1', reason: 'pre-deploy' });
    const manifest = await readBackupManifest(path.join(layout.backupsDir, record.id));
    assert.deepEqual(manifest.items[0].fingerprint, original, 'the backup file holds exactly the data');
    assert.match(manifest.items[0].tool, /pg_dump \(PostgreSQL\) \d+/);
    assert.equal(record.items[0].file, 'db-main.pgdump');

    // What a migration would do, and more.
    await asApp(`
      DELETE FROM people WHERE id % 3 = 0;
      UPDATE people SET name = 'renamed' WHERE id < 10;
      ALTER TABLE people ADD COLUMN word_count int;
      DROP VIEW active_people;
      DROP TABLE "Mixed Case";
      CREATE TABLE added_by_migration (id int);
      CREATE SCHEMA extra; CREATE TABLE extra.t (x int);
    `);
    assert.notDeepEqual(await postgresEngine.fingerprint({ item, env }), original);

    await restoreBackup({ layout, ledger, backupId: record.id, data, env });
    assert.deepEqual(await postgresEngine.fingerprint({ item, env }), original);
    assert.equal((await asApp("SELECT count(*) FROM pg_tables WHERE tablename = 'added_by_migration' OR schemaname = 'extra'")).trim(), '0');
    assert.equal((await asApp('SELECT count(*) FROM active_people')).trim(), '1500', 'the view is back');
    // The app can still create tables in public (its default privileges came back).
    await asApp('CREATE TABLE after_restore (x int); DROP TABLE after_restore;');

    const report = await verifyBackup({ layout, ledger, backupId: record.id, data, env });
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal((await admin("SELECT count(*) FROM pg_database WHERE datname LIKE 'slipway_verify_%'")).trim(), '0', 'the scratch database was dropped');
  });

  test('a corrupted backup: the structural check and verify fail, restore refuses, data untouched', async (t) => {
    if (skipIfNoServer(t)) return;
    const { layout, ledger } = await tempHost(t);
    const record = await createBackup({ layout, ledger, environment: 'production', data, env, releaseId: null, reason: 'manual' });
    await asApp("INSERT INTO empty_table VALUES (42)");
    const now = await postgresEngine.fingerprint({ item, env });

    const file = path.join(layout.backupsDir, record.id, 'db-main.pgdump');
    flipByte(file);
    await expectRejects(postgresEngine.inspect({ item, file, env }), 'BACKUP_CORRUPT');
    // Straight to the engine (no checksum gate): pg_restore fails part-way through the data,
    // and the one-transaction restore leaves the database exactly as it was.
    await assert.rejects(postgresEngine.restore({ item, file, env }), (error: SlipwayError) => error instanceof SlipwayError);
    assert.deepEqual(await postgresEngine.fingerprint({ item, env }), now);
    const report = await verifyBackup({ layout, ledger, backupId: record.id, data, env });
    assert.equal(report.ok, false);
    await expectRejects(restoreBackup({ layout, ledger, backupId: record.id, data, env }), 'BACKUP_CORRUPT');
    assert.deepEqual(await postgresEngine.fingerprint({ item, env }), now);
    await asApp('DELETE FROM empty_table');
  });

  test('wrong credentials: the error names the env variable, never the password', async (t) => {
    if (skipIfNoServer(t)) return;
    const { layout, ledger } = await tempHost(t);
    const wrong = 'Wr0ng-pass@word!';
    const badEnv = { ...env, DATABASE_URL: `postgres://app:${encodeURIComponent(wrong)}@127.0.0.1:${pg!.port}/app` };
    const error = await expectRejects(createBackup({ layout, ledger, environment: 'p', data, env: badEnv, releaseId: null, reason: 'manual' }), 'BACKUP_DB_AUTH', /DATABASE_URL/);
    assert.match(error.hint ?? '', /DATABASE_URL/);
    const text = allErrorText(error);
    for (const secret of [wrong, encodeURIComponent(wrong), PASSWORD, encodeURIComponent(PASSWORD)]) assert.ok(!text.includes(secret), `leaked ${secret}`);
    assert.deepEqual(fs.readdirSync(layout.backupsDir), [], 'no backup folder left');

    await expectRejects(createBackup({ layout, ledger, environment: 'p', data, env: { PATH: process.env.PATH }, releaseId: null, reason: 'manual' }), 'BACKUP_DB_URL_MISSING', /DATABASE_URL/);
  });

  test('a missing tool names the package; a pg_dump older than the server is refused', async (t) => {
    if (skipIfNoServer(t)) return;
    const dir = tempDir(t);
    const emptyBin = path.join(dir, 'empty-bin');
    fs.mkdirSync(emptyBin);
    const outFile = path.join(dir, 'out.pgdump');
    await expectRejects(postgresEngine.backup({ item, outFile, env: { ...env, PATH: emptyBin } }), 'BACKUP_TOOL_MISSING', { hint: /postgresql-client/, message: /pg_dump/ });

    const oldBin = path.join(dir, 'old-bin');
    fs.mkdirSync(oldBin);
    fs.writeFileSync(path.join(oldBin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 11.22"\n', { mode: 0o755 });
    await expectRejects(postgresEngine.backup({ item, outFile, env: { ...env, PATH: `${oldBin}${path.delimiter}${process.env.PATH}` } }), 'BACKUP_TOOL_TOO_OLD', { hint: /postgresql-client-\d+/ });
    assert.equal(fs.existsSync(outFile), false);
  });

  test('scrub SQL runs in one transaction: applied when valid, nothing applied when it fails', async (t) => {
    if (skipIfNoServer(t)) return;
    const dir = tempDir(t);
    const scrub = path.join(dir, 'scrub.sql');
    fs.writeFileSync(scrub, "UPDATE people SET email = 'user' || id || '@example.invalid' WHERE email IS NOT NULL;\n");
    const bad = path.join(dir, 'bad.sql');
    fs.writeFileSync(bad, "UPDATE people SET name = 'gone';\nSELECT no_such_function();\n");

    await assert.rejects(runScrubSql({ item, env, sqlFile: bad }), (error: SlipwayError) => error instanceof SlipwayError);
    assert.equal((await asApp("SELECT count(*) FROM people WHERE name = 'gone'")).trim(), '0');

    const before = (await asApp("SELECT count(*) FROM people WHERE email LIKE '%@example.com'")).trim();
    assert.notEqual(before, '0');
    await runScrubSql({ item, env, sqlFile: scrub });
    assert.equal((await asApp("SELECT count(*) FROM people WHERE email LIKE '%@example.com'")).trim(), '0');
    assert.equal((await asApp("SELECT count(*) FROM people WHERE email LIKE '%@example.invalid'")).trim(), before);
  });
});
