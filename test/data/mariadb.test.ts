// The MariaDB/MySQL engine against a real MariaDB started for this file; the app's
// user has a password with URL-special characters, passed to the tools in MYSQL_PWD.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { DataConfig } from '../../src/config/types.js';
import { readBackupManifest } from '../../src/data/backup-manifest.js';
import { createBackup } from '../../src/data/backup-set.js';
import { mysqlEngine, MysqlDumpScanner } from '../../src/data/engines/mysql.js';
import { restoreBackup } from '../../src/data/restore.js';
import { runScrubSql } from '../../src/data/scrub.js';
import { verifyBackup } from '../../src/data/verify.js';
import { MariadbUnavailableError, startMariadb, type RunningMariadb } from '../helpers/mariadb.js';
import { allErrorText, flipByte, tempDir, tempHost } from './fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';

const data: DataConfig = { databases: [{ name: 'main', engine: 'mysql', urlEnv: 'DATABASE_URL' }], folders: [] };
const item = { kind: 'database' as const, name: 'main', engine: 'mysql' as const, urlEnv: 'DATABASE_URL' };

const SEED = `
CREATE TABLE people (
  id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL, email VARCHAR(200) NULL, score DECIMAL(10,2),
  ratio DOUBLE, born DATE, seen TIMESTAMP(6) NULL, active BOOLEAN, avatar BLOB NULL, note TEXT
) CHARACTER SET utf8mb4;
INSERT INTO people (name, email, score, ratio, born, seen, active, avatar, note)
SELECT CONCAT('Ünïcødé ', seq, ' ✓ 日本'), IF(seq % 7 = 0, NULL, CONCAT('user', seq, '@example.com')), seq * 1.25, seq / 3,
       DATE_ADD('2000-01-01', INTERVAL seq DAY), TIMESTAMPADD(MINUTE, seq, '2024-01-01 00:00:00'), seq % 2 = 0,
       IF(seq % 5 = 0, NULL, UNHEX(MD5(seq))), CONCAT('it''s (tricky), \\\\ back\\nslash; "quoted" ', seq)
FROM seq_1_to_3000;
CREATE TABLE empty_table (x INT);
CREATE TABLE tagged (person_id INT NOT NULL, tag VARCHAR(20), FOREIGN KEY (person_id) REFERENCES people (id)) CHARACTER SET utf8mb4;
INSERT INTO tagged SELECT id, CONCAT('t', id % 10) FROM people WHERE id <= 500;
CREATE DEFINER = 'app'@'%' VIEW active_people AS SELECT id, name FROM people WHERE active;
CREATE DEFINER = 'app'@'%' PROCEDURE count_people() SELECT COUNT(*) FROM people;
`;

describe('MariaDB backups', { timeout: 180_000 }, () => {
  let db: RunningMariadb | null = null;
  let env: Record<string, string | undefined> = {};
  let skipReason: string | null = null;

  before(async () => {
    try {
      db = await startMariadb();
    } catch (err) {
      if (!(err instanceof MariadbUnavailableError)) throw err;
      skipReason = `MariaDB cannot run here: ${err.message}`;
      return;
    }
    await db.rootQuery(SEED, 'app');
    env = { DATABASE_URL: db.url, PATH: process.env.PATH };
  });
  after(() => db?.stop());

  const skipIfNoServer = (t: TestContext): boolean => {
    if (db) return false;
    t.diagnostic(`SKIPPED: ${skipReason}`);
    t.skip(skipReason ?? 'no MariaDB');
    return true;
  };

  test('round trip: restore(backup(db)) equals db, objects created after the backup are gone, verify passes', async (t) => {
    if (skipIfNoServer(t)) return;
    const { layout, ledger } = await tempHost(t);
    const original = await mysqlEngine.fingerprint({ item, env });
    assert.equal(original.people.rows, 3000);
    assert.equal(original.tagged.rows, 500);
    assert.equal(original.empty_table.rows, 0);

    const record = await createBackup({ layout, ledger, environment: 'production', data, env, releaseId: 'r1', releaseVersion: 'v1', reason: 'pre-deploy' });
    const manifest = await readBackupManifest(path.join(layout.backupsDir, record.id));
    assert.deepEqual(manifest.items[0].fingerprint, original, 'the backup file holds exactly the data');
    assert.equal(record.items[0].file, 'db-main.sql.gz');

    await db!.rootQuery(
      `DELETE FROM tagged WHERE person_id % 2 = 0; DELETE FROM people WHERE id % 3 = 0 AND id > 500;
       UPDATE people SET name = 'renamed' WHERE id < 10; ALTER TABLE people ADD COLUMN word_count INT;
       DROP VIEW active_people; DROP PROCEDURE count_people; CREATE TABLE added_by_migration (id INT);`,
      'app',
    );
    assert.notDeepEqual(await mysqlEngine.fingerprint({ item, env }), original);

    await restoreBackup({ layout, ledger, backupId: record.id, data, env });
    assert.deepEqual(await mysqlEngine.fingerprint({ item, env }), original);
    assert.equal((await db!.rootQuery("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'added_by_migration'")).trim(), '0');
    assert.equal((await db!.rootQuery('SELECT COUNT(*) FROM active_people', 'app')).trim(), '1500', 'the view is back');
    assert.equal((await db!.rootQuery('CALL count_people()', 'app')).trim(), '3000', 'the procedure is back');
    assert.equal((await db!.rootQuery("SELECT note FROM people WHERE id = 1", 'app')).trim(), 'it\'s (tricky), \\\\ back\\nslash; "quoted" 1');

    const report = await verifyBackup({ layout, ledger, backupId: record.id, data, env });
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal((await db!.rootQuery("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE 'slipway_verify_%'")).trim(), '0');
  });

  test('a corrupted backup: the structural check and verify fail, restore refuses, data untouched', async (t) => {
    if (skipIfNoServer(t)) return;
    const { layout, ledger } = await tempHost(t);
    const record = await createBackup({ layout, ledger, environment: 'production', data, env, releaseId: null, reason: 'manual' });
    await db!.rootQuery('INSERT INTO empty_table VALUES (42)', 'app');
    const now = await mysqlEngine.fingerprint({ item, env });

    const file = path.join(layout.backupsDir, record.id, 'db-main.sql.gz');
    flipByte(file);
    await expectRejects(mysqlEngine.inspect({ item, file, env }), 'BACKUP_CORRUPT');
    assert.equal((await verifyBackup({ layout, ledger, backupId: record.id, data, env })).ok, false);
    await expectRejects(restoreBackup({ layout, ledger, backupId: record.id, data, env }), 'BACKUP_CORRUPT');
    assert.deepEqual(await mysqlEngine.fingerprint({ item, env }), now);
    await db!.rootQuery('DELETE FROM empty_table', 'app');
  });

  test('an incomplete dump is refused by the structural check', async (t) => {
    if (skipIfNoServer(t)) return;
    const dir = tempDir(t);
    const whole = path.join(dir, 'whole.sql.gz');
    await mysqlEngine.backup({ item, outFile: whole, env });
    const zlib = await import('node:zlib');
    const text = zlib.gunzipSync(fs.readFileSync(whole)).toString('utf8');
    const cut = path.join(dir, 'cut.sql.gz');
    fs.writeFileSync(cut, zlib.gzipSync(text.slice(0, Math.floor(text.length * 0.6))));
    await expectRejects(mysqlEngine.inspect({ item, file: cut, env }), 'BACKUP_CORRUPT', /incomplete/);
  });

  test('wrong credentials name the env variable and never print the password; a missing tool names the package', async (t) => {
    if (skipIfNoServer(t)) return;
    const { layout, ledger } = await tempHost(t);
    const wrong = 'Wr0ng-pass@word!';
    const badEnv = { ...env, DATABASE_URL: `mysql://app:${encodeURIComponent(wrong)}@127.0.0.1:${db!.port}/app` };
    const error = await expectRejects(createBackup({ layout, ledger, environment: 'p', data, env: badEnv, releaseId: null, reason: 'manual' }), 'BACKUP_DB_AUTH', /DATABASE_URL/);
    const text = allErrorText(error);
    for (const secret of [wrong, encodeURIComponent(wrong), db!.password, encodeURIComponent(db!.password)]) assert.ok(!text.includes(secret), `leaked ${secret}`);
    assert.deepEqual(fs.readdirSync(layout.backupsDir), []);

    const emptyBin = path.join(tempDir(t), 'bin');
    fs.mkdirSync(emptyBin);
    await expectRejects(mysqlEngine.backup({ item, outFile: path.join(emptyBin, 'x.sql.gz'), env: { ...env, PATH: emptyBin } }), 'BACKUP_TOOL_MISSING', { hint: /mariadb-client/, message: /mariadb-dump/ });
  });

  test('scrub SQL is applied to the database', async (t) => {
    if (skipIfNoServer(t)) return;
    const scrub = path.join(tempDir(t), 'scrub.sql');
    fs.writeFileSync(scrub, "UPDATE people SET email = CONCAT('user', id, '@example.invalid') WHERE email IS NOT NULL;\n");
    const before = (await db!.rootQuery("SELECT COUNT(*) FROM people WHERE email LIKE '%@example.com'", 'app')).trim();
    assert.notEqual(before, '0');
    await runScrubSql({ item, env, sqlFile: scrub });
    assert.equal((await db!.rootQuery("SELECT COUNT(*) FROM people WHERE email LIKE '%@example.com'", 'app')).trim(), '0');
    assert.equal((await db!.rootQuery("SELECT COUNT(*) FROM people WHERE email LIKE '%@example.invalid'", 'app')).trim(), before);
  });
});

test('the dump scanner counts tuples on the INSERT line or on their own lines, with tricky strings', () => {
  const scanner = new MysqlDumpScanner();
  const lines = [
    '-- MariaDB dump 10.19',
    '-- Dumping data for table `a``b`',
    '-- Dumping data for table `t`',
    "INSERT INTO `t` VALUES (1,'x),(y'),(2,'it\\'s; (a) \\\\'),",
    "(3,NULL),",
    "(4,0xFF);",
    "INSERT INTO `t` VALUES",
    "(5,'');",
    '-- Dump completed on 2026-01-01',
  ];
  for (const line of lines) scanner.line(Buffer.from(line));
  const result = scanner.digests.result();
  assert.equal(result.t.rows, 5);
  assert.equal(result['a`b'].rows, 0);
  assert.equal(scanner.lastNonEmpty, '-- Dump completed on 2026-01-01');

  // Same rows in another order and split differently: same checksum.
  const other = new MysqlDumpScanner();
  for (const line of ["INSERT INTO `t` VALUES (5,''),(4,0xFF),(3,NULL);", "INSERT INTO `t` VALUES (2,'it\\'s; (a) \\\\'),(1,'x),(y');"]) other.line(Buffer.from(line));
  assert.equal(other.digests.result().t.checksum, result.t.checksum);
});
