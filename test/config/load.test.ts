import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { getEnvironment, loadProject } from '../../src/config/load.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

const VALID = 'app: notes\nservices:\n  web: { command: node server.js }\nenvironments:\n  production: { port: 8080 }\n  staging: { port: 8080 }\n';

test('a missing slipway.yml gives CONFIG_NOT_FOUND with exit code 2 and a hint to run slipway init', async (t) => {
  const dir = tempDir(t);
  const error = await expectRejects(loadProject({ cwd: dir }), 'CONFIG_NOT_FOUND');
  assert.equal(error.exitCode, 2);
  assert.match(error.message, /no slipway\.yml in /);
  assert.match(error.hint ?? '', /slipway init/);
  assert.match(error.hint ?? '', /--config/);
});

test('a missing --config file gives CONFIG_NOT_FOUND naming that file', async (t) => {
  const dir = tempDir(t);
  const error = await expectRejects(loadProject({ cwd: dir, file: 'deploy/slipway.yml' }), 'CONFIG_NOT_FOUND');
  assert.match(error.message, /deploy\/slipway\.yml not found/);
});

test('slipway.yaml next to a missing slipway.yml is pointed out', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'slipway.yaml'), VALID);
  const error = await expectRejects(loadProject({ cwd: dir }), 'CONFIG_NOT_FOUND');
  assert.match(error.hint ?? '', /rename it to slipway\.yml/);
});

test('a valid file loads with its absolute path, folder and warnings', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'slipway.yml'), VALID);
  const project = await loadProject({ cwd: dir });
  assert.equal(project.file, path.join(dir, 'slipway.yml'));
  assert.equal(project.dir, dir);
  assert.equal(project.config.app, 'notes');
  assert.equal(project.warnings.length, 1);
  assert.match(project.warnings[0], /^slipway\.yml:6:20: environments\.staging\.port: .*both use port 8080/);
});

test('--config is resolved against cwd', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'ops'));
  fs.writeFileSync(path.join(dir, 'ops', 'app.yml'), VALID);
  const project = await loadProject({ cwd: dir, file: 'ops/app.yml' });
  assert.equal(project.file, path.join(dir, 'ops', 'app.yml'));
  assert.equal(project.dir, path.join(dir, 'ops'));
});

test('an invalid file throws one CONFIG_INVALID listing every problem as file:line:col', async (t) => {
  const dir = tempDir(t);
  const text = [
    'app: notes',
    'services:',
    '  web:',
    '    command: node server.js',
    '    port_evn: PORT',
    '    env: { DATABASE_URL: "postgres://app:s3cr3tpass@db/notes" }',
    'environments:',
    '  production: { port: 99999 }',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'slipway.yml'), text);
  const error = await expectRejects(loadProject({ cwd: dir }), 'CONFIG_INVALID');
  assert.equal(error.exitCode, 2);
  assert.equal(error.message, 'slipway.yml has 3 problems');
  assert.equal(error.details.length, 3);
  assert.match(error.details[0], /^slipway\.yml:5:5: services\.web\.port_evn: unknown key `port_evn`; did you mean `port_env`\?$/);
  assert.match(error.details[1], /^slipway\.yml:6:26: services\.web\.env\.DATABASE_URL: contains a URL with a password/);
  assert.match(error.details[2], /^slipway\.yml:8:23: environments\.production\.port: expected a port number/);
  assert.ok(error.hint);
  const everything = [error.message, error.hint, ...error.details].join('\n');
  assert.equal(everything.includes('s3cr3tpass'), false);
});

test('getEnvironment finds an environment or suggests the closest name', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'slipway.yml'), VALID);
  const project = await loadProject({ cwd: dir });
  assert.equal(getEnvironment(project, 'staging').name, 'staging');
  assert.equal(getEnvironment(project.config, 'production').port, 8080);

  const prod = expectThrows(() => getEnvironment(project, 'prod'), 'CONFIG_UNKNOWN_ENVIRONMENT', { exitCode: 2, hint: /did you mean `production`\?/ });
  assert.match(prod.hint ?? '', /known environments: production, staging/);
  const qa = expectThrows(() => getEnvironment(project, 'qa'), 'CONFIG_UNKNOWN_ENVIRONMENT', { hint: /production, staging/ });
  assert.doesNotMatch(qa.hint ?? '', /did you mean/);
});
