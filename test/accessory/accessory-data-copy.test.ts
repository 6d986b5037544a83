// Issue 14, "Accessories": `data copy production staging --scrub` against accessory databases.
// Two environments of the notes app on one machine, each with its own PostgreSQL accessory (a
// container of the image made from this machine's server, on its environment's own named volume
// and its own loopback port, set per environment in the host env file): production's rows reach
// staging scrubbed, production's data is untouched. An accessory whose port another environment's
// already holds is refused before anything is created, instead of passing for it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createDataFixture, describe, json } from '../helpers/data-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { requireDocker } from '../helpers/docker.js';
import { ensurePostgresImage, installedPostgresMajor, psqlOnPort } from '../helpers/docker-postgres.js';

const PASSWORD = 'acc-Copy-Pw-8d21f0';

function removeEnvironment(environment: string): void {
  const filters = ['--filter', 'label=dev.slipway.app=notes', '--filter', `label=dev.slipway.environment=${environment}`];
  const ids = spawnSync('docker', ['ps', '-aq', ...filters], { encoding: 'utf8' }).stdout.trim();
  if (ids !== '') spawnSync('docker', ['rm', '-f', ...ids.split(/\s+/)], { stdio: 'ignore' });
  const volumes = spawnSync('docker', ['volume', 'ls', '-q', ...filters], { encoding: 'utf8' }).stdout.trim();
  if (volumes !== '') spawnSync('docker', ['volume', 'rm', '-f', ...volumes.split(/\s+/)], { stdio: 'ignore' });
}

test('data copy production -> staging --scrub between two accessory PostgreSQLs on one machine; production untouched', { timeout: 400_000 }, async (t) => {
  if (!requireDocker(t)) return;
  if (installedPostgresMajor() === null) return t.skip('needs PostgreSQL server binaries under /usr/lib/postgresql/<N>/bin to make the image from');
  const image = ensurePostgresImage();
  const suffix = randomBytes(3).toString('hex');
  const [production, staging] = [`prod-${suffix}`, `stag-${suffix}`];
  t.after(() => {
    removeEnvironment(production);
    removeEnvironment(staging);
  });
  const fx = await createDataFixture(t, { build: [] });
  const dbPorts = new Map([[production, await freePort()], [staging, await freePort()]]);
  const appPorts = new Map([[production, await freePort()], [staging, await freePort()]]);
  const accessory = { image, volumes: ['pgdata:/var/lib/postgresql/data'], env: { POSTGRES_USER: 'notes', POSTGRES_DB: 'notes' } };
  await fx.commitVariant({
    base: 'v1',
    tag: 'v1-pg',
    editProject: (project) => {
      project.data.databases.main = { engine: 'postgres', url_env: 'DATABASE_URL', accessory: 'db' };
      // One port for every environment: the refusal is checked with it first.
      project.accessories = { db: { ...accessory, secrets: ['POSTGRES_PASSWORD'], port: dbPorts.get(production), command: ['postgres', '-p', String(dbPorts.get(production))] } };
      const base = project.environments.production;
      project.environments = { [production]: { ...base, port: appPorts.get(production) }, [staging]: { ...base, port: appPorts.get(staging) } };
    },
  });
  await fx.build('v1-pg');
  for (const env of [production, staging]) {
    for (const assignment of [`POSTGRES_PASSWORD=${PASSWORD}`, `DATABASE_URL=postgres://notes:${PASSWORD}@127.0.0.1:${dbPorts.get(env)}/notes`]) {
      assert.equal((await fx.cli(['config', env, 'set', assignment])).code, 0);
    }
  }
  const first = await fx.cli(['accessory', 'start', production, 'db']);
  assert.equal(first.code, 0, describe(first));

  await t.test("an accessory whose port another environment's holds is refused, nothing created", async () => {
    const clash = await fx.cli(['accessory', 'start', staging, 'db']);
    assert.equal(clash.code, 1, describe(clash));
    assert.match(clash.stderr, new RegExp(`something already listens on 127\\.0\\.0\\.1:${dbPorts.get(production)}, the port of the accessory db; it was not started, nothing was created`));
    assert.equal(spawnSync('docker', ['container', 'inspect', `slipway-notes-${staging}-db`], { stdio: 'ignore' }).status, 1, 'no container for staging');
  });

  // Each environment's own port, from slipway.yml: staging's overrides the port and tells the server through PGPORT.
  fx.editProjectFile((project) => {
    project.accessories = { db: { ...accessory, secrets: ['POSTGRES_PASSWORD'], port: dbPorts.get(production) } };
    project.environments[staging].accessories = { db: { port: dbPorts.get(staging), env: { PGPORT: String(dbPorts.get(staging)) } } };
    project.environments[production].accessories = { db: { env: { PGPORT: String(dbPorts.get(production)) } } };
  });
  removeEnvironment(production);
  for (const env of [production, staging]) {
    const started = await fx.cli(['accessory', 'start', env, 'db']);
    assert.equal(started.code, 0, describe(started));
    await waitForServer(dbPorts.get(env)!);
    await fx.startAgent({ environment: env });
    const deployed = await fx.cli(['deploy', env, '--version', 'v1-pg', '--yes']);
    assert.equal(deployed.code, 0, describe(deployed));
  }
  const stagingStatus = await fx.cli(['accessory', 'status', staging, 'db', '--json']);
  assert.equal(stagingStatus.code, 0, describe(stagingStatus));
  const [stagingDb] = JSON.parse(stagingStatus.stdout);
  assert.equal(stagingDb.port, dbPorts.get(staging), "staging's accessory on the port its environment gives it");
  assert.equal(stagingDb.answering, true);
  const volumes = [production, staging].map((env) => spawnSync('docker', ['container', 'inspect', '--format', '{{range .Mounts}}{{.Name}}{{end}}', `slipway-notes-${env}-db`], { encoding: 'utf8' }).stdout.trim());
  assert.deepEqual(volumes, [`slipway-notes-${production}-pgdata`, `slipway-notes-${staging}-pgdata`], 'a volume of its own for each environment');

  const prodApp = fx.app(production);
  const stagApp = fx.app(staging);
  await prodApp.addNote('invoice for alice@example.com');
  await prodApp.addNote('call bob.smith@example.org back');
  await prodApp.addNote('no address here');
  await stagApp.addNote('a staging experiment');
  const productionNotes = await prodApp.notes();
  const query = (env: string, sql: string) => {
    const answer = psqlOnPort({ port: dbPorts.get(env)!, user: 'notes', password: PASSWORD, database: 'notes', sql });
    assert.ok(answer.ok, answer.out);
    return answer.out.trim();
  };
  const productionRows = query(production, "SELECT string_agg(id || ':' || text, '|' ORDER BY id) FROM notes");
  assert.equal(query(staging, 'SELECT count(*) FROM notes'), '1', "staging's own database");

  const scrub = path.join(fx.dir, 'scrub.sql');
  writeFileSync(scrub, "UPDATE notes SET text = 'scrubbed ' || id;\n");
  const copy = await fx.cli(['data', 'copy', production, staging, '--scrub', scrub, '--yes']);
  assert.equal(copy.code, 0, describe(copy));
  assert.match(copy.stdout, new RegExp(`${staging} now runs on a copy of ${production}'s data \\(backup \\S+\\), scrubbed with scrub\\.sql`));

  assert.deepEqual(
    (await stagApp.notes()).map((n) => ({ id: n.id, text: n.text })),
    productionNotes.map((n) => ({ id: n.id, text: `scrubbed ${n.id}` })),
    "staging has production's rows, scrubbed",
  );
  assert.equal(query(staging, "SELECT count(*) FROM notes WHERE text LIKE '%@%'"), '0', "no e-mail address reached staging's accessory");
  assert.deepEqual(await prodApp.notes(), productionNotes, 'production serves its own rows');
  assert.equal(query(production, "SELECT string_agg(id || ':' || text, '|' ORDER BY id) FROM notes"), productionRows, "production's accessory is untouched");
  const [latest] = json<Array<{ outcome: string }>>(await fx.cli(['history', staging, '--json']));
  assert.equal(latest?.outcome, 'succeeded');
});

/** Until the accessory's server answers a query (no `port:` in slipway.yml: start waits only a moment). */
async function waitForServer(port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = psqlOnPort({ port, user: 'notes', password: PASSWORD, database: 'notes', sql: 'SELECT 1' });
    if (answer.ok) return;
    if (Date.now() > deadline) throw new Error(`the accessory on ${port} did not answer: ${answer.out}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
