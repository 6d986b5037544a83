// Issue 14, "Accessories": `slipway accessory start|stop|status|logs <env> [name]` through the
// built CLI against a real Docker engine and a real PostgreSQL image (made from this machine's
// server). The container and its volume outlive a stop: the rows written before are there
// after the next start. A secret missing from the host env file is refused before anything is
// created, naming it and the command that sets it; its value is never printed.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI_PATH, describeRun, freePort, makeSandbox, testRunnerEnv, type Sandbox } from '../helpers/cli.js';
import { removeContainersOf, requireDocker } from '../helpers/docker.js';
import { ensurePostgresImage, installedPostgresMajor, psqlOnPort } from '../helpers/docker-postgres.js';

const PASSWORD = 'acc-Pw-7c41e9d2';

interface Project {
  sandbox: Sandbox;
  dir: string;
  app: string;
  port: number;
  hostRoot: string;
  run(args: string[], input?: string): ReturnType<Sandbox['run']>;
}

/** A project whose only accessory is PostgreSQL on a free loopback port, with a named volume and a folder volume. */
async function project(t: TestContext, o: { image: string }): Promise<Project> {
  const sandbox = makeSandbox(t);
  const dir = path.join(sandbox.root, 'app');
  fs.mkdirSync(dir);
  const app = `acc-${randomBytes(4).toString('hex')}`;
  t.after(() => removeContainersOf(app));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'slipway.yml'),
    [
      `app: ${app}`,
      'services:',
      '  web:',
      '    command: node server.js',
      'accessories:',
      '  db:',
      `    image: ${o.image}`,
      '    volumes: [pgdata:/var/lib/postgresql/data, ./accessories/db-extra:/extra]',
      '    env: { POSTGRES_USER: notes, POSTGRES_DB: notes }',
      '    secrets: [POSTGRES_PASSWORD]',
      `    port: ${port}`,
      `    command: [postgres, -p, "${port}"]`,
      'environments:',
      '  production:',
      `    port: ${await freePort()}`,
      '',
    ].join('\n'),
  );
  const hostRoot = path.join(sandbox.home, 'hosts', app, 'production');
  return { sandbox, dir, app, port, hostRoot, run: (args, input) => sandbox.run(args, { cwd: dir, ...(input === undefined ? {} : { input }) }) };
}

function docker(args: string[]): string {
  const result = spawnSync('docker', args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : '';
}

function imageOrSkip(t: TestContext): string | null {
  if (!requireDocker(t)) return null;
  if (installedPostgresMajor() === null) {
    t.skip('needs PostgreSQL server binaries under /usr/lib/postgresql/<N>/bin to make the image from');
    return null;
  }
  return ensurePostgresImage();
}

test('start creates the container and volumes, status and logs show it, stop keeps the data for the next start', { timeout: 240_000 }, async (t) => {
  const image = imageOrSkip(t);
  if (image === null) return;
  const p = await project(t, { image });
  const name = `slipway-${p.app}-production-db`;

  const before = await p.run(['accessory', 'status', 'production', '--json']);
  assert.equal(before.code, 0, describeRun(before));
  assert.equal(JSON.parse(before.stdout)[0].state, 'missing');

  assert.equal((await p.run(['config', 'production', 'set', 'POSTGRES_PASSWORD'], `${PASSWORD}\n`)).code, 0);
  const started = await p.run(['accessory', 'start', 'production']);
  assert.equal(started.code, 0, describeRun(started));
  assert.match(started.stdout, new RegExp(`db: created \\(container ${name}, ${image}\\), answering on 127\\.0\\.0\\.1:${p.port}`));
  assert.ok(!(started.stdout + started.stderr).includes(PASSWORD), 'the password is in no output');

  // What the engine holds: labels, host networking, the environment's own volume, the folder under the host root (0700).
  const inspected = JSON.parse(docker(['inspect', name]))[0];
  assert.deepEqual(
    Object.fromEntries(Object.entries(inspected.Config.Labels as Record<string, string>).filter(([k]) => k.startsWith('dev.slipway.'))),
    { 'dev.slipway.app': p.app, 'dev.slipway.environment': 'production', 'dev.slipway.accessory': 'db', 'dev.slipway.role': 'accessory' },
  );
  assert.equal(inspected.HostConfig.NetworkMode, 'host');
  const volume = `slipway-${p.app}-production-pgdata`;
  assert.equal(docker(['volume', 'inspect', volume, '--format', '{{index .Labels "dev.slipway.accessory"}}']), 'db');
  const folder = path.join(p.hostRoot, 'accessories', 'db-extra');
  assert.equal(fs.statSync(folder).mode & 0o777, 0o700);

  const status = await p.run(['accessory', 'status', 'production', 'db', '--json']);
  assert.equal(status.code, 0, describeRun(status));
  const [running] = JSON.parse(status.stdout);
  assert.equal(running.state, 'running');
  assert.equal(running.image, image);
  assert.equal(running.id, inspected.Id);
  assert.equal(running.port, p.port);
  assert.equal(running.answering, true);
  assert.ok(!Number.isNaN(Date.parse(running.startedAt)), running.startedAt);
  const table = await p.run(['accessory', 'status', 'production']);
  assert.match(table.stdout, new RegExp(`db\\s+running\\s+${image.replace(/[.:/]/g, '\\$&')}\\s+${p.port} \\(answering\\)`));

  const logs = await p.run(['accessory', 'logs', 'production', 'db', '-n', '200']);
  assert.equal(logs.code, 0, describeRun(logs));
  assert.match(logs.stdout, /initialized \/var\/lib\/postgresql\/data for user notes, database notes/);
  assert.match(logs.stdout, /database system is ready to accept connections/);

  const query = (sql: string) => psqlOnPort({ port: p.port, user: 'notes', password: PASSWORD, database: 'notes', sql });
  assert.ok(query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('written before the stop')").ok);

  const stopped = await p.run(['accessory', 'stop', 'production', 'db']);
  assert.equal(stopped.code, 0, describeRun(stopped));
  assert.match(stopped.stdout, /db: stopped \(exit code 0\)/, 'a clean shutdown');
  const afterStop = JSON.parse((await p.run(['accessory', 'status', 'production', '--json'])).stdout)[0];
  assert.equal(afterStop.state, 'stopped');
  assert.equal(afterStop.answering, false);
  assert.equal(afterStop.id, inspected.Id, 'the container is kept');
  assert.equal((await p.run(['accessory', 'stop', 'production'])).stdout.trim(), 'db: already stopped (exit code 0)');

  // Started again: the same container (not a new one), the same volume, the same rows; a deploy-like
  // edit of the image in slipway.yml is reported, not applied.
  const file = path.join(p.dir, 'slipway.yml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(`image: ${image}`, 'image: postgres:99'));
  const again = await p.run(['accessory', 'start', 'production', 'db']);
  assert.equal(again.code, 0, describeRun(again));
  assert.match(again.stdout, new RegExp(`db: started \\(container ${name}, ${image}\\)`));
  assert.match(again.stdout, /note: runs .* slipway\.yml says postgres:99: an accessory's image changes only by a deliberate upgrade/);
  assert.equal(JSON.parse(docker(['inspect', name]))[0].Id, inspected.Id);
  assert.equal(query('SELECT v FROM kept').out.trim(), 'written before the stop');
  assert.equal((await p.run(['accessory', 'start', 'production'])).stdout.split('\n')[0], `db: already running (container ${name}, ${image}), answering on 127.0.0.1:${p.port}`);
});

test('logs -f prints new output as it comes, until interrupted', { timeout: 180_000 }, async (t) => {
  const image = imageOrSkip(t);
  if (image === null) return;
  const p = await project(t, { image });
  assert.equal((await p.run(['config', 'production', 'set', 'POSTGRES_PASSWORD'], `${PASSWORD}\n`)).code, 0);
  assert.equal((await p.run(['accessory', 'start', 'production'])).code, 0);

  const child = spawn(process.execPath, [CLI_PATH, 'accessory', 'logs', 'production', 'db', '-f', '-n', '1'], {
    cwd: p.dir,
    env: { ...testRunnerEnv(), SLIPWAY_HOME: p.sandbox.home, TMPDIR: p.sandbox.tmp, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));

  // A failed login makes the server write a line: it must arrive while -f runs.
  const marker = `follow_${randomBytes(3).toString('hex')}`;
  const deadline = Date.now() + 30_000;
  while (!output.includes(marker) && Date.now() < deadline) {
    psqlOnPort({ port: p.port, user: marker, password: 'wrong-password', database: 'notes', sql: 'SELECT 1' });
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.match(output, new RegExp(`password authentication failed for user "${marker}"`));
  child.kill('SIGINT');
  assert.equal(await exited, 0, output);
});

test('a secret missing from the host env file is refused before anything is created, naming it and `slipway config`', { timeout: 120_000 }, async (t) => {
  const image = imageOrSkip(t);
  if (image === null) return;
  const p = await project(t, { image });
  const refused = await p.run(['accessory', 'start', 'production', 'db']);
  assert.equal(refused.code, 2, describeRun(refused));
  assert.match(refused.stderr, /the accessory db needs POSTGRES_PASSWORD from the host env file .*shared\/\.env, which does not set it; nothing was created/);
  assert.match(refused.stderr, /hint: .*`slipway config production set POSTGRES_PASSWORD`/);
  assert.equal(docker(['ps', '-aq', '--filter', `label=dev.slipway.app=${p.app}`]), '', 'no container');
  assert.equal(docker(['volume', 'ls', '-q', '--filter', `label=dev.slipway.app=${p.app}`]), '', 'no volume');

  // An unknown name and an image the engine lacks: refused too, nothing made.
  const unknown = await p.run(['accessory', 'start', 'production', 'dbb']);
  assert.equal(unknown.code, 2, describeRun(unknown));
  assert.match(unknown.stderr, /no accessory named dbb in slipway\.yml/);
  assert.equal((await p.run(['config', 'production', 'set', 'POSTGRES_PASSWORD'], `${PASSWORD}\n`)).code, 0);
  const file = path.join(p.dir, 'slipway.yml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(`image: ${image}`, 'image: slipway-test/never-made:1'));
  const noImage = await p.run(['accessory', 'start', 'production']);
  assert.equal(noImage.code, 1, describeRun(noImage));
  assert.match(noImage.stderr, /the image slipway-test\/never-made:1 of the accessory db is not in the Docker engine; nothing was created/);
  assert.ok(!(refused.stderr + noImage.stderr + noImage.stdout).includes(PASSWORD));
  assert.equal(docker(['ps', '-aq', '--filter', `label=dev.slipway.app=${p.app}`]), '', 'still no container');
});
