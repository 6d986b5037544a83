import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { detectPackageScripts, renderInitTemplate, toAppName } from '../../src/config/init-template.js';
import { parseProjectText } from '../../src/config/load.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

test('the init template parses cleanly into the contract defaults', () => {
  const text = renderInitTemplate({ app: 'notes', startCommand: 'npm start', buildCommands: ['npm ci --omit=dev'], port: 8080 });
  const result = parseProjectText(text, 'slipway.yml');
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.warnings, []);
  const config = result.config!;
  assert.equal(config.app, 'notes');
  assert.equal(config.services.length, 1);
  assert.equal(config.services[0].name, 'web');
  assert.equal(config.services[0].command, 'npm start');
  assert.equal(config.services[0].portEnv, 'PORT');
  assert.equal(config.services[0].health.path, '/healthz');
  assert.deepEqual(config.build.commands, ['npm ci --omit=dev']);
  assert.equal(config.migrate, null);
  assert.deepEqual(config.environments.map((env) => [env.name, env.host, env.port]), [['production', 'local', 8080]]);
  // it explains itself
  assert.match(text, /^# .*secrets file with 0600 permissions/m);
  assert.match(text, /^# migrate:/m);
});

test('commands with YAML-special characters and a migrate command round-trip exactly', () => {
  const commands = ['echo "a: b" # not a comment', "sh -c 'x'", '- dash', '{ braces }', ''];
  const text = renderInitTemplate({
    app: 'my-app',
    startCommand: 'node server.js --port: 1 # x',
    buildCommands: commands.slice(0, 4),
    migrateCommand: 'npm run migrate',
    port: 3000,
  });
  const result = parseProjectText(text, 'slipway.yml');
  assert.deepEqual(result.problems, []);
  assert.equal(result.config!.services[0].command, 'node server.js --port: 1 # x');
  assert.deepEqual(result.config!.build.commands, commands.slice(0, 4));
  assert.deepEqual(result.config!.migrate, { command: 'npm run migrate', reversible: false, timeoutMs: 600_000 });
  assert.equal(result.config!.environments[0].port, 3000);
});

test('no build commands renders an empty list', () => {
  const text = renderInitTemplate({ app: 'a', startCommand: './serve', buildCommands: [], port: 80 });
  const result = parseProjectText(text, 'slipway.yml');
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.config!.build.commands, []);
});

test('toAppName turns package and folder names into valid app names', () => {
  assert.equal(toAppName('@acme/Notes App'), 'notes-app');
  assert.equal(toAppName('notes'), 'notes');
  assert.equal(toAppName('__My__Site!!'), 'my-site');
  assert.equal(toAppName('***'), 'app');
  assert.equal(toAppName(undefined), 'app');
});

test('detectPackageScripts maps package.json scripts to npm commands', async (t) => {
  const dir = tempDir(t);

  assert.deepEqual(await detectPackageScripts(dir), {});

  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: '@acme/notes', scripts: { start: 'node server.js', build: 'tsc', migrate: 'node migrate.js', test: 'x' } }),
  );
  assert.deepEqual(await detectPackageScripts(dir), { name: '@acme/notes', start: 'npm start', build: 'npm run build', migrate: 'npm run migrate' });

  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'plain' }));
  assert.deepEqual(await detectPackageScripts(dir), { name: 'plain' });

  fs.writeFileSync(path.join(dir, 'package.json'), '{ not json');
  await expectRejects(detectPackageScripts(dir), 'PACKAGE_JSON_INVALID');
});
