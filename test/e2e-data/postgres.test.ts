import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe as suite, it, type TestContext } from 'node:test';
import { createDataFixture, describe, json, type DataFixture } from '../helpers/data-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { PostgresUnavailableError, startPostgres, type RunningPostgres } from '../helpers/postgres.js';

// Issue 4, "Done when": a production → staging copy on real PostgreSQL with a scrub
// applied; "Bad input": wrong database credentials name the env variable and never
// print the password. The notes app runs in PostgreSQL mode (DATABASE_URL set).

const ROLE = 'notes';
const PASSWORD = 'R1ghtPassw0rd-5b7e';
const WRONG_PASSWORD = 'Wr0ngPassw0rd-9d1c';

let pg: RunningPostgres | null = null;
let unavailable = '';

/** psql as the server's superuser, over its unix socket; returns the rows as text. */
function sql(statement: string, database = 'postgres'): Promise<string> {
  return pg!.runTool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg!.socketDir, '-p', String(pg!.port), '-U', 'postgres', '-d', database, '-c', statement]);
}

function databaseUrl(database: string, password = PASSWORD): string {
  return `postgres://${ROLE}:${password}@127.0.0.1:${pg!.port}/${database}`;
}

suite('PostgreSQL', () => {
  before(async () => {
    try {
      pg = await startPostgres();
    } catch (error) {
      if (error instanceof PostgresUnavailableError) {
        unavailable = error.message;
        return;
      }
      throw error;
    }
    // The app's role logs in with a password over TCP (the superuser keeps trust), so a wrong one is refused.
    const hbaFile = (await sql('SHOW hba_file')).trim();
    writeFileSync(hbaFile, 'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n');
    await sql('SELECT pg_reload_conf()');
    await sql(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}'`);
  });
  after(() => pg?.stop());

  /** The notes app in PostgreSQL mode (release v1-pg), one database per environment, each agent running. */
  async function postgresApp(t: TestContext, environments: string[]): Promise<DataFixture> {
    const fx = await createDataFixture(t, { build: [] });
    const ports = new Map<string, number>();
    for (const name of environments) ports.set(name, name === 'production' ? fx.port('production') : await freePort());
    await fx.commitVariant({
      base: 'v1',
      tag: 'v1-pg',
      editProject: (project) => {
        project.data.databases.main = { engine: 'postgres', url_env: 'DATABASE_URL' };
        for (const name of environments) project.environments[name] = { ...project.environments.production, port: ports.get(name) };
      },
    });
    await fx.build('v1-pg');
    for (const name of environments) {
      const database = `notes_${name}_${path.basename(fx.dir).replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
      await sql(`CREATE DATABASE ${database} OWNER ${ROLE}`);
      const set = await fx.cli(['config', name, 'set', `DATABASE_URL=${databaseUrl(database)}`]);
      assert.equal(set.code, 0, describe(set));
      await fx.startAgent({ environment: name });
      const deployed = await fx.cli(['deploy', name, '--version', 'v1-pg', '--yes']);
      assert.equal(deployed.code, 0, describe(deployed));
      assert.match((await fx.app(name).request('GET', '/healthz')).body, /"ok":true/);
    }
    return fx;
  }

  function databaseOf(fx: DataFixture, environment: string): string {
    const line = readFileSync(path.join(fx.hostRoot(environment), 'shared', '.env'), 'utf8').split('\n').find((l) => l.startsWith('DATABASE_URL='))!;
    return new URL(line.slice('DATABASE_URL='.length)).pathname.slice(1);
  }

  it('data copy production → staging restores production\'s rows into staging and applies the scrub', { timeout: 150_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    const fx = await postgresApp(t, ['production', 'staging']);
    const production = fx.app('production');
    const staging = fx.app('staging');
    await production.addNote('invoice for alice@example.com');
    await production.addNote('call bob.smith@example.org back');
    await production.addNote('no address here');
    await production.putUpload('contract.txt', 'production upload');
    await staging.addNote('a staging experiment');
    await staging.putUpload('staging-only.txt', 'staging upload');
    const productionNotes = await production.notes();
    assert.equal(Number((await sql('SELECT count(*) FROM notes', databaseOf(fx, 'production'))).trim()), 3, 'the app keeps its notes in PostgreSQL');

    const scrub = path.join(fx.dir, 'scrub.sql');
    writeFileSync(scrub, "UPDATE notes SET text = 'scrubbed ' || id;\n");
    const copy = await fx.cli(['data', 'copy', 'production', 'staging', '--scrub', scrub, '--yes']);
    assert.equal(copy.code, 0, describe(copy));
    assert.match(copy.stdout, /staging now runs on a copy of production's data/);

    const stagingNotes = await staging.notes();
    assert.deepEqual(
      stagingNotes.map((n) => ({ id: n.id, text: n.text, createdAt: n.createdAt })),
      productionNotes.map((n) => ({ id: n.id, text: `scrubbed ${n.id}`, createdAt: n.createdAt })),
      "staging has production's rows, scrubbed",
    );
    const leaked = (await sql("SELECT count(*) FROM notes WHERE text LIKE '%@%'", databaseOf(fx, 'staging'))).trim();
    assert.equal(leaked, '0', 'no e-mail address reached staging\'s database');
    assert.deepEqual(await production.notes(), productionNotes, 'production is unchanged');
    assert.equal(await production.upload('staging-only.txt'), null);

    assert.equal((await staging.request('GET', '/healthz')).status, 200, 'staging still serves');
    assert.equal(await staging.version(), 'v1');
    assert.equal(await staging.upload('contract.txt'), 'production upload', "production's uploads were copied");
    assert.equal(await staging.upload('staging-only.txt'), null, "staging's own uploads were replaced");
    const written = await staging.addNote('staging writes again');
    assert.ok(written.id > Math.max(...productionNotes.map((n) => n.id)), `the id sequence came along: new id ${written.id}`);

    const [latest] = json<Array<{ outcome: string }>>(await fx.cli(['history', 'staging', '--json']));
    assert.equal(latest?.outcome, 'succeeded', 'the copy is recorded in staging\'s history');
  });

  it('wrong database credentials: the backup fails naming DATABASE_URL, and the password is printed nowhere', { timeout: 150_000 }, async (t) => {
    if (!pg) return t.skip(`PostgreSQL is not available: ${unavailable}`);
    const fx = await postgresApp(t, ['production']);
    const before = json<unknown[]>(await fx.cli(['backups', 'production', '--json'])).length;
    const wrongUrl = databaseUrl(databaseOf(fx, 'production'), WRONG_PASSWORD);
    assert.equal((await fx.cli(['config', 'production', 'set', `DATABASE_URL=${wrongUrl}`])).code, 0);

    const backup = await fx.cli(['backup', 'production']);
    assert.equal(backup.code, 1, describe(backup));
    assert.match(backup.stderr, /DATABASE_URL/, 'the message names the variable');
    assert.match(backup.stderr, /credentials|password/i);
    assert.match(backup.stderr, /hint: /);
    const agentLog = fx.agentOutput();
    const logs = readdirSync(path.join(fx.hostRoot(), 'logs')).map((name) => readFileSync(path.join(fx.hostRoot(), 'logs', name), 'utf8'));
    for (const [where, text] of [['stdout', backup.stdout], ['stderr', backup.stderr], ['agent output', agentLog], ['host logs', logs.join('\n')]] as const) {
      for (const secret of [WRONG_PASSWORD, PASSWORD]) assert.equal(text.includes(secret), false, `${where} shows a password:\n${text}`);
    }
    assert.equal(json<unknown[]>(await fx.cli(['backups', 'production', '--json'])).length, before, 'no backup was recorded');
    assert.deepEqual(readdirSync(path.join(fx.hostRoot(), 'backups')).filter((name) => name.startsWith('.')), [], 'no partial backup left behind');
  });
});
