// Issue 14, "Accessories": an app whose database is an accessory's PostgreSQL (a container of
// slipway-test/postgres, made from this machine's server) is backed up, verified, restored and
// rolled back with its data by the same engine as any PostgreSQL: pg_dump and psql of the host,
// through the accessory's loopback port. With the accessory stopped, a backup is refused with
// the command that starts it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { assertAccessoriesRunning } from '../../src/data/accessory-check.js';
import { createDataFixture, describe, json, type DataFixture, type ProjectFile } from '../helpers/data-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { requireDocker } from '../helpers/docker.js';
import { ensurePostgresImage, installedPostgresMajor, psqlOnPort } from '../helpers/docker-postgres.js';

const PASSWORD = 'acc-Backup-Pw-31d8a6';

interface BackupEntry {
  id: string;
  reason: string;
  release: { version: string } | null;
}

/** Removes the containers and volumes of one environment of the notes app (other tests may run notes too). */
function removeEnvironmentContainers(environment: string): void {
  const filters = ['--filter', 'label=dev.slipway.app=notes', '--filter', `label=dev.slipway.environment=${environment}`];
  const ids = spawnSync('docker', ['ps', '-aq', ...filters], { encoding: 'utf8' }).stdout.trim();
  if (ids !== '') spawnSync('docker', ['rm', '-f', ...ids.split(/\s+/)], { stdio: 'ignore' });
  const volumes = spawnSync('docker', ['volume', 'ls', '-q', ...filters], { encoding: 'utf8' }).stdout.trim();
  if (volumes !== '') spawnSync('docker', ['volume', 'rm', '-f', ...volumes.split(/\s+/)], { stdio: 'ignore' });
}

interface AccessoryApp {
  fx: DataFixture;
  env: string;
  port: number;
  sql(statement: string): string;
}

/**
 * The notes app with its database `main` in the accessory `db`, in an environment of its own
 * name (so its container is this test's alone), v1-pg and v2-pg built, the accessory started,
 * an agent running, nothing deployed yet.
 */
async function accessoryApp(t: TestContext): Promise<AccessoryApp | null> {
  if (!requireDocker(t)) return null;
  if (installedPostgresMajor() === null) {
    t.skip('needs PostgreSQL server binaries under /usr/lib/postgresql/<N>/bin to make the image from');
    return null;
  }
  const image = ensurePostgresImage();
  const env = `acc-${randomBytes(3).toString('hex')}`;
  t.after(() => removeEnvironmentContainers(env));
  const fx = await createDataFixture(t, { build: [] });
  const port = await freePort();
  const appPort = await freePort();
  const editProject = (project: ProjectFile) => {
    project.data.databases.main = { engine: 'postgres', url_env: 'DATABASE_URL', accessory: 'db' };
    project.accessories = {
      db: {
        image,
        volumes: ['pgdata:/var/lib/postgresql/data'],
        env: { POSTGRES_USER: 'notes', POSTGRES_DB: 'notes' },
        secrets: ['POSTGRES_PASSWORD'],
        port,
        command: ['postgres', '-p', String(port)],
      },
    };
    project.environments = { [env]: { ...project.environments.production, port: appPort } };
  };
  await fx.commitVariant({ base: 'v1', tag: 'v1-pg', editProject });
  await fx.build('v1-pg');
  await fx.commitVariant({ base: 'v2', tag: 'v2-pg', editProject });
  await fx.build('v2-pg');

  for (const assignment of [`POSTGRES_PASSWORD=${PASSWORD}`, `DATABASE_URL=postgres://notes:${PASSWORD}@127.0.0.1:${port}/notes`]) {
    const set = await fx.cli(['config', env, 'set', assignment]);
    assert.equal(set.code, 0, describe(set));
  }
  const started = await fx.cli(['accessory', 'start', env, 'db']);
  assert.equal(started.code, 0, describe(started));
  await fx.startAgent({ environment: env });
  const sql = (statement: string) => {
    const answer = psqlOnPort({ port, user: 'notes', password: PASSWORD, database: 'notes', sql: statement });
    assert.ok(answer.ok, answer.out);
    return answer.out.trim();
  };
  return { fx, env, port, sql };
}

test('backup, backup verify and restore of an accessory\'s PostgreSQL: the old rows come back', { timeout: 300_000 }, async (t) => {
  const a = await accessoryApp(t);
  if (a === null) return;
  const { fx, env } = a;
  const deployed = await fx.cli(['deploy', env, '--version', 'v1-pg', '--yes']);
  assert.equal(deployed.code, 0, describe(deployed));
  const app = fx.app(env);
  await app.addNote('kept in the accessory');
  await app.addNote('backed up before the change');
  const before = await app.notes();
  assert.equal(a.sql('SELECT count(*) FROM notes'), '2', 'the app writes to the accessory\'s database');

  const backup = await fx.cli(['backup', env, '--json']);
  assert.equal(backup.code, 0, describe(backup));
  const taken = JSON.parse(backup.stdout) as { id: string; items: Array<{ name: string; engine: string }> };
  assert.deepEqual(taken.items.map((i) => [i.name, i.engine]).filter(([, engine]) => engine === 'postgres'), [['main', 'postgres']]);

  const verified = await fx.cli(['backup', 'verify', env, taken.id]);
  assert.equal(verified.code, 0, describe(verified));
  assert.doesNotMatch(a.sql("SELECT string_agg(datname, ',') FROM pg_database"), /slipway_verify_/, 'the scratch database is gone');

  await app.addNote('written after the backup');
  a.sql("UPDATE notes SET text = 'changed after the backup' WHERE id = 1");
  assert.notDeepEqual(await app.notes(), before);

  const restored = await fx.cli(['restore', env, taken.id, '--yes']);
  assert.equal(restored.code, 0, describe(restored));
  assert.deepEqual(await app.notes(), before, 'the rows of the backup are back, and only those');
  assert.equal(a.sql('SELECT count(*) FROM notes'), '2');
  for (const text of [backup.stdout, backup.stderr, verified.stdout, verified.stderr, restored.stdout, restored.stderr]) {
    assert.equal(text.includes(PASSWORD), false, `a password in the output:\n${text}`);
  }
});

test('rollback --with-data of an update on an accessory\'s PostgreSQL brings the data of before the update back', { timeout: 300_000 }, async (t) => {
  const a = await accessoryApp(t);
  if (a === null) return;
  const { fx, env } = a;
  assert.equal((await fx.cli(['deploy', env, '--version', 'v1-pg', '--yes'])).code, 0);
  const app = fx.app(env);
  await app.addNote('before the update');
  const before = await app.notes();

  const updated = await fx.cli(['deploy', env, '--version', 'v2-pg', '--yes']);
  assert.equal(updated.code, 0, describe(updated));
  assert.match(a.sql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'notes'"), /words/, 'v2 migrated the accessory\'s database');
  await app.addNote('written by v2');

  const back = await fx.cli(['rollback', env, '--with-data', '--yes']);
  assert.equal(back.code, 0, describe(back));
  assert.equal(await app.version(), 'v1');
  assert.deepEqual((await app.notes()).map((n) => n.text), before.map((n) => n.text));
  assert.doesNotMatch(a.sql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'notes'"), /words/, 'the migration is undone with the data');
  const backups = json<BackupEntry[]>(await fx.cli(['backups', env, '--json']));
  assert.ok(backups.some((b) => b.reason === 'pre-deploy'), 'the update took its backup through the accessory');
});

test('with the accessory stopped, the check refuses naming the command that starts it', { timeout: 300_000 }, async (t) => {
  const a = await accessoryApp(t);
  if (a === null) return;
  const { fx, env } = a;
  assert.equal((await fx.cli(['deploy', env, '--version', 'v1-pg', '--yes'])).code, 0);
  const stopped = await fx.cli(['accessory', 'stop', env, 'db']);
  assert.equal(stopped.code, 0, describe(stopped));

  const data = { databases: [{ name: 'main', engine: 'postgres' as const, urlEnv: 'DATABASE_URL', accessory: 'db' }], folders: [] };
  await assert.rejects(assertAccessoriesRunning({ app: 'notes', environment: env, data, doing: 'back up' }), (error: Error & { code?: string; hint?: string }) => {
    assert.equal(error.code, 'ACCESSORY_NOT_RUNNING');
    assert.match(error.message, /cannot back up: the database main runs in the accessory db, which is stopped; nothing was changed/);
    assert.equal(error.hint, `start it: \`slipway accessory start ${env} db\`, then try again`);
    return true;
  });
  await assert.rejects(assertAccessoriesRunning({ app: 'notes', environment: `${env}-other`, data, doing: 'restore' }), /which is not created yet/);

  const before = json<BackupEntry[]>(await fx.cli(['backups', env, '--json'])).length;
  const backup = await fx.cli(['backup', env]);
  assert.equal(backup.code, 1, describe(backup));
  assert.equal(json<BackupEntry[]>(await fx.cli(['backups', env, '--json'])).length, before, 'no backup was recorded');

  await t.test('`slipway backup` says to start the accessory', () => {
    assert.match(backup.stderr, new RegExp(`hint: start it: \`slipway accessory start ${env} db\``));
  });

  const restarted = await fx.cli(['accessory', 'start', env, 'db']);
  assert.equal(restarted.code, 0, describe(restarted));
  await assertAccessoriesRunning({ app: 'notes', environment: env, data, doing: 'back up' });
  const again = await fx.cli(['backup', env]);
  assert.equal(again.code, 0, describe(again));
});
