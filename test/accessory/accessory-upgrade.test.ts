// Issue 14, "Accessories": `slipway accessory upgrade <env> <name>` is the deliberate way to change
// an accessory's image. Through the built CLI against a real Docker engine and the PostgreSQL
// image made from this machine's server (a second tag of it stands in for a new version, an image
// whose entrypoint exits for a broken one): a verified backup first, the same volume under the new
// container, the app's rows still there; a broken image goes back to the old one with the same
// data; the same image again is refused, and without --yes nothing happens.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { describeRun, makeSandbox } from '../helpers/cli.js';
import { createDataFixture, describe, json, type DataFixture, type ProjectFile } from '../helpers/data-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { removeContainersOf, requireDocker } from '../helpers/docker.js';
import { ensurePostgresImage, installedPostgresMajor, psqlOnPort } from '../helpers/docker-postgres.js';

const PASSWORD = 'acc-Upgrade-Pw-5be02c';

interface ContainerView {
  Id: string;
  Config: { Image: string };
  Image: string;
  State: { Running: boolean };
  Mounts: { Type: string; Name?: string; Destination: string }[];
}

function inspect(name: string): ContainerView | null {
  const out = spawnSync('docker', ['container', 'inspect', name], { encoding: 'utf8' });
  return out.status === 0 ? (JSON.parse(out.stdout) as ContainerView[])[0]! : null;
}

function removeEnvironment(environment: string): void {
  const filters = ['--filter', 'label=dev.slipway.app=notes', '--filter', `label=dev.slipway.environment=${environment}`];
  const ids = spawnSync('docker', ['ps', '-aq', ...filters], { encoding: 'utf8' }).stdout.trim();
  if (ids !== '') spawnSync('docker', ['rm', '-f', ...ids.split(/\s+/)], { stdio: 'ignore' });
  const volumes = spawnSync('docker', ['volume', 'ls', '-q', ...filters], { encoding: 'utf8' }).stdout.trim();
  if (volumes !== '') spawnSync('docker', ['volume', 'rm', '-f', ...volumes.split(/\s+/)], { stdio: 'ignore' });
}

/** The notes app on an accessory PostgreSQL in an environment of its own, v1-pg deployed, two notes written. */
async function deployedOnAccessory(t: TestContext): Promise<{ fx: DataFixture; env: string; image: string; sql(statement: string): string } | null> {
  if (!requireDocker(t)) return null;
  if (installedPostgresMajor() === null) {
    t.skip('needs PostgreSQL server binaries under /usr/lib/postgresql/<N>/bin to make the image from');
    return null;
  }
  const image = ensurePostgresImage();
  const env = `upg-${randomBytes(3).toString('hex')}`;
  t.after(() => removeEnvironment(env));
  const fx = await createDataFixture(t, { build: [] });
  const port = await freePort();
  const appPort = await freePort();
  await fx.commitVariant({
    base: 'v1',
    tag: 'v1-pg',
    editProject: (project: ProjectFile) => {
      project.data.databases.main = { engine: 'postgres', url_env: 'DATABASE_URL', accessory: 'db' };
      project.accessories = {
        db: { image, volumes: ['pgdata:/var/lib/postgresql/data'], env: { POSTGRES_USER: 'notes', POSTGRES_DB: 'notes' }, secrets: ['POSTGRES_PASSWORD'], port, command: ['postgres', '-p', String(port)] },
      };
      project.environments = { [env]: { ...project.environments.production, port: appPort } };
    },
  });
  await fx.build('v1-pg');
  for (const assignment of [`POSTGRES_PASSWORD=${PASSWORD}`, `DATABASE_URL=postgres://notes:${PASSWORD}@127.0.0.1:${port}/notes`]) {
    assert.equal((await fx.cli(['config', env, 'set', assignment])).code, 0);
  }
  const started = await fx.cli(['accessory', 'start', env, 'db']);
  assert.equal(started.code, 0, describe(started));
  await fx.startAgent({ environment: env });
  const deployed = await fx.cli(['deploy', env, '--version', 'v1-pg', '--yes']);
  assert.equal(deployed.code, 0, describe(deployed));
  const sql = (statement: string) => {
    const answer = psqlOnPort({ port, user: 'notes', password: PASSWORD, database: 'notes', sql: statement });
    assert.ok(answer.ok, answer.out);
    return answer.out.trim();
  };
  return { fx, env, image, sql };
}

/** A tag of `image` (the same image id under a new name), removed after the test. */
function tagImage(t: TestContext, image: string, tag: string): string {
  assert.equal(spawnSync('docker', ['tag', image, tag]).status, 0);
  t.after(() => spawnSync('docker', ['rmi', tag], { stdio: 'ignore' }));
  return tag;
}

/** An image FROM `image` whose entrypoint prints a line and exits 3: a server that never comes up. */
function brokenImage(t: TestContext, image: string, tag: string): string {
  const built = spawnSync('docker', ['build', '-q', '-t', tag, '-'], {
    input: `FROM ${image}\nENTRYPOINT ["/bin/sh", "-c", "echo this image is broken >&2; exit 3"]\n`,
    encoding: 'utf8',
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
  });
  assert.equal(built.status, 0, built.stderr);
  t.after(() => spawnSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' }));
  return tag;
}

test('accessory upgrade: backup first, a new container of the new image on the same volume; a broken image goes back to the old one', { timeout: 400_000 }, async (t) => {
  const a = await deployedOnAccessory(t);
  if (a === null) return;
  const { fx, env, image } = a;
  const name = `slipway-notes-${env}-db`;
  const app = fx.app(env);
  await app.addNote('written before the upgrade');
  await app.addNote('and this one too');
  const notes = await app.notes();
  const countBackups = async () => json<{ id: string }[]>(await fx.cli(['backups', env, '--json'])).length;
  const original = inspect(name)!;
  const volume = original.Mounts.find((m) => m.Destination === '/var/lib/postgresql/data')!.Name;
  assert.equal(volume, `slipway-notes-${env}-pgdata`);

  const same = await fx.cli(['accessory', 'upgrade', env, 'db', '--yes']);
  assert.equal(same.code, 2, describe(same));
  assert.match(same.stderr, new RegExp(`the accessory db already runs ${image.replace(/[.:/]/g, '\\$&')} \\([0-9a-f]{12}\\); nothing to upgrade`));

  const next = tagImage(t, image, `slipway-test/postgres:upgrade-${env}`);
  fx.editProjectFile((project) => {
    project.accessories.db.image = next;
  });
  const unconfirmed = await fx.cli(['accessory', 'upgrade', env, 'db']);
  assert.equal(unconfirmed.code, 2, describe(unconfirmed));
  assert.match(unconfirmed.stderr, /accessory upgrade needs a confirmation/);
  assert.equal(inspect(name)!.Id, original.Id, 'without --yes the container is untouched');

  const backupsBefore = await countBackups();
  const upgraded = await fx.cli(['accessory', 'upgrade', env, 'db', '--yes']);
  assert.equal(upgraded.code, 0, describe(upgraded));
  const id = original.Image.replace('sha256:', '').slice(0, 12);
  assert.match(upgraded.stdout, new RegExp(`^db: upgraded ${image.replace(/[.:/]/g, '\\$&')} \\(${id}\\) -> ${next.replace(/[.:/]/g, '\\$&')} \\(${id}\\), answering on 127\\.0\\.0\\.1:\\d+`, 'm'));
  const backupId = /backup first: (\S+) \(main[^)]*\), verified/.exec(upgraded.stdout)?.[1];
  assert.ok(backupId, upgraded.stdout);
  assert.match(upgraded.stdout, new RegExp(`volumes kept: slipway-notes-${env}-pgdata \\(pgdata\\)`));
  const backups = json<{ id: string; reason: string; items?: unknown }[]>(await fx.cli(['backups', env, '--json']));
  assert.equal(backups.length, backupsBefore + 1);
  assert.ok(backups.some((b) => b.id === backupId), 'the backup the upgrade names is recorded');
  assert.ok(upgraded.stderr.indexOf(`backup ${backupId} taken and verified`) < upgraded.stderr.indexOf('stopping '), 'the backup came before the stop');

  const after = inspect(name)!;
  assert.notEqual(after.Id, original.Id, 'a new container');
  assert.equal(after.Config.Image, next);
  assert.equal(after.State.Running, true);
  assert.equal(after.Mounts.find((m) => m.Destination === '/var/lib/postgresql/data')!.Name, volume, 'on the same volume');
  assert.deepEqual(await app.notes(), notes, 'the rows are there, served by the app');
  assert.equal(inspect(`${name}-before-upgrade`), null, 'the old container is gone');
  const status = json<{ containerImage: string; drift: string[] }[]>(await fx.cli(['accessory', 'status', env, 'db', '--json']))[0]!;
  assert.equal(status.containerImage, next);
  assert.deepEqual(status.drift, []);
  const envStatus = json<{ current: { version: string }; accessories: { name: string; state: string; image: string; imageId: string; answering: boolean; drift: string[] }[] }>(await fx.cli(['status', env, '--json']));
  assert.equal(envStatus.current.version, 'v1-pg');
  assert.deepEqual(envStatus.accessories.map((x) => ({ ...x, port: undefined })), [{ name: 'db', state: 'running', image: next, imageId: id, port: undefined, answering: true, drift: [] }]);
  assert.match((await fx.cli(['status', env])).stdout, new RegExp(`db\\s+running\\s+${next.replace(/[.:/]/g, '\\$&')}\\s+${id}\\s+\\d+ \\(answering\\)`));

  await t.test('a broken image: the old container is back on the same volume, and the command says so', async () => {
    const broken = brokenImage(t, image, `slipway-test/postgres:broken-${env}`);
    fx.editProjectFile((project) => {
      project.accessories.db.image = broken;
    });
    const before = await countBackups();
    const failed = await fx.cli(['accessory', 'upgrade', env, 'db', '--yes', '--timeout', '20']);
    assert.equal(failed.code, 1, describe(failed));
    assert.match(failed.stderr, new RegExp(`the accessory db did not come up on ${broken.replace(/[.:/]/g, '\\$&')}: .*; it runs ${next.replace(/[.:/]/g, '\\$&')} again, on the same volumes`));
    assert.match(failed.stderr, /this image is broken/, "the new container's output is shown");
    assert.match(failed.stderr, /stopped right after it started \(exit code 3\)/);
    assert.equal(await countBackups(), before + 1, 'a backup was taken first');
    const back = inspect(name)!;
    assert.equal(back.Id, after.Id, 'the same container as before the attempt');
    assert.equal(back.Config.Image, next);
    assert.equal(back.State.Running, true);
    assert.equal(inspect(`${name}-before-upgrade`), null);
    assert.deepEqual(await app.notes(), notes);
    assert.equal(a.sql('SELECT count(*) FROM notes'), String(notes.length));
  });
});

test('accessory upgrade without a database in slipway.yml: no backup, says so; --json; refused before the accessory exists', { timeout: 240_000 }, async (t) => {
  if (!requireDocker(t)) return;
  if (installedPostgresMajor() === null) return t.skip('needs PostgreSQL server binaries under /usr/lib/postgresql/<N>/bin to make the image from');
  const image = ensurePostgresImage();
  const sandbox = makeSandbox(t);
  const app = `upg-${randomBytes(4).toString('hex')}`;
  t.after(() => removeContainersOf(app));
  const port = await freePort();
  const appPort = await freePort();
  const next = tagImage(t, image, `slipway-test/postgres:upgrade-${app}`);
  const write = (accessoryImage: string) =>
    fs.writeFileSync(
      path.join(sandbox.root, 'slipway.yml'),
      [`app: ${app}`, 'services:', '  web:', '    command: node server.js', 'accessories:', '  cache:', `    image: ${accessoryImage}`, '    volumes: [cachedata:/var/lib/postgresql/data]', '    env: { POSTGRES_USER: c, POSTGRES_PASSWORD: not-a-secret-here }', `    port: ${port}`, `    command: [postgres, -p, "${port}"]`, 'environments:', '  production:', `    port: ${appPort}`, ''].join('\n'),
    );
  write(image);
  const early = await sandbox.run(['accessory', 'upgrade', 'production', 'cache', '--yes']);
  assert.equal(early.code, 2, describeRun(early));
  assert.match(early.stderr, /the accessory cache has no container yet, so there is nothing to upgrade/);
  const started = await sandbox.run(['accessory', 'start', 'production', 'cache'], { timeoutMs: 120_000 });
  assert.equal(started.code, 0, describeRun(started));
  assert.ok(psqlOnPort({ port, user: 'c', password: 'not-a-secret-here', database: 'c', sql: "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('on the volume')" }).ok);

  write(next);
  const upgraded = await sandbox.run(['accessory', 'upgrade', 'production', 'cache', '--yes', '--json'], { timeoutMs: 120_000 });
  assert.equal(upgraded.code, 0, describeRun(upgraded));
  const result = JSON.parse(upgraded.stdout) as { name: string; from: { image: string }; to: { image: string }; backup: unknown; note: string; port: number; volumes: string[] };
  assert.deepEqual({ name: result.name, from: result.from.image, to: result.to.image, backup: result.backup, port: result.port }, { name: 'cache', from: image, to: next, backup: null, port });
  assert.equal(result.note, 'no database of slipway.yml runs in cache: no backup taken');
  assert.deepEqual(result.volumes, [`slipway-${app}-production-cachedata (cachedata) at /var/lib/postgresql/data`]);
  const kept = psqlOnPort({ port, user: 'c', password: 'not-a-secret-here', database: 'c', sql: 'SELECT v FROM kept' });
  assert.equal(kept.out.trim(), 'on the volume', kept.out);
});
