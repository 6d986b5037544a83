import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadProject } from '../../src/config/load.js';
import { describeRun, listTree, makeSandbox, type Sandbox } from '../helpers/cli.js';

function appFolder(sandbox: Sandbox, pkg: unknown): string {
  const dir = path.join(sandbox.root, 'app');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  return dir;
}

const NOTES_PACKAGE = {
  name: '@acme/Notes App',
  scripts: { start: 'node server.js', build: 'tsc -p .', migrate: 'node migrate.js', test: 'node --test' },
};

test('init --yes writes a slipway.yml that loads: production on this machine, web from the start script, PORT, /healthz', async (t) => {
  const sandbox = makeSandbox(t);
  const dir = appFolder(sandbox, NOTES_PACKAGE);
  const result = await sandbox.run(['init', '--yes'], { cwd: dir });
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stdout, /wrote .*slipway\.yml/);

  const project = await loadProject({ cwd: dir });
  const { config } = project;
  assert.equal(config.app, 'notes-app');
  assert.deepEqual(
    config.environments.map((env) => [env.name, env.host]),
    [['production', 'local']],
  );
  assert.equal(config.services.length, 1);
  const web = config.services[0]!;
  assert.equal(web.name, 'web');
  // the service runs package.json's start script (through npm, so the script stays the one source of truth)
  assert.equal(web.command, 'npm start');
  assert.equal(web.portEnv, 'PORT');
  assert.equal(web.health.path, '/healthz');
  assert.deepEqual(config.build.commands, ['npm run build']);
  assert.equal(config.migrate?.command, 'npm run migrate');
  assert.deepEqual(project.warnings, []);
  // only slipway.yml was written, nothing under SLIPWAY_HOME
  assert.deepEqual(fs.readdirSync(dir).sort(), ['package.json', 'slipway.yml']);
  assert.deepEqual(listTree(sandbox.home), []);
});

test('init without a start script or build script still writes a valid file', async (t) => {
  const sandbox = makeSandbox(t);
  const dir = appFolder(sandbox, { name: 'bare', scripts: {} });
  const result = await sandbox.run(['init', '--yes'], { cwd: dir });
  assert.equal(result.code, 0, describeRun(result));
  const { config } = await loadProject({ cwd: dir });
  assert.equal(config.app, 'bare');
  assert.deepEqual(config.build.commands, []);
  assert.equal(config.migrate, null);
  assert.match(result.stdout, /no start script/);
});

test('init refuses to overwrite an existing slipway.yml (exit 2) unless --force', async (t) => {
  const sandbox = makeSandbox(t);
  const dir = appFolder(sandbox, NOTES_PACKAGE);
  const file = path.join(dir, 'slipway.yml');
  fs.writeFileSync(file, '# mine\n');

  const refused = await sandbox.run(['init', '--yes'], { cwd: dir });
  assert.equal(refused.code, 2, describeRun(refused));
  assert.match(refused.stderr, /slipway\.yml already exists/);
  assert.match(refused.stderr, /--force/);
  assert.equal(fs.readFileSync(file, 'utf8'), '# mine\n');

  const forced = await sandbox.run(['init', '--yes', '--force'], { cwd: dir });
  assert.equal(forced.code, 0, describeRun(forced));
  assert.equal((await loadProject({ cwd: dir })).config.services[0]?.name, 'web');
});

test('init without --yes and without a terminal refuses (exit 2) with a hint about --yes, writing nothing', async (t) => {
  const sandbox = makeSandbox(t);
  const dir = appFolder(sandbox, NOTES_PACKAGE);
  const result = await sandbox.run(['init'], { cwd: dir });
  assert.equal(result.code, 2, describeRun(result));
  assert.match(result.stderr, /stdin is not a terminal/);
  assert.match(result.stderr, /hint: .*--yes/);
  assert.equal(result.stdout, '');
  assert.deepEqual(fs.readdirSync(dir), ['package.json']);
});

test('init --config writes the file where it is told; a missing folder or a broken package.json is a usage error', async (t) => {
  const sandbox = makeSandbox(t);
  const dir = appFolder(sandbox, NOTES_PACKAGE);
  fs.mkdirSync(path.join(dir, 'deploy'));
  const placed = await sandbox.run(['init', '--yes', '--config', 'deploy/slipway.yml'], { cwd: dir });
  assert.equal(placed.code, 0, describeRun(placed));
  assert.ok(fs.existsSync(path.join(dir, 'deploy', 'slipway.yml')));
  assert.ok(!fs.existsSync(path.join(dir, 'slipway.yml')));

  const noFolder = await sandbox.run(['init', '--yes', '--config', 'missing/slipway.yml'], { cwd: dir });
  assert.equal(noFolder.code, 2, describeRun(noFolder));
  assert.match(noFolder.stderr, /folder .*missing does not exist/);
  assert.doesNotMatch(noFolder.stderr, /internal error/);

  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": ');
  const broken = await sandbox.run(['init', '--yes'], { cwd: dir });
  assert.equal(broken.code, 2, describeRun(broken));
  assert.match(broken.stderr, /package\.json is not valid JSON/);
  assert.ok(!fs.existsSync(path.join(dir, 'slipway.yml')));
});
