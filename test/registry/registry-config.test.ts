/**
 * slipway.yml `environments.<env>.registry`, and the registry's credentials: only through the
 * variables the environment names, never in a message (the engine's or slipway's own).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem, parseProjectText } from '../../src/config/load.js';
import { redactCredentials, registryAuth, registryRepository, registryTag } from '../../src/container/registry.js';
import { expectRejects } from '../helpers/expect-error.js';

const HEAD = 'app: notes\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    port: 8080\n';

test('absent: no registry; a bare host:port or a mapping with credential variables parses', () => {
  assert.equal(parseProjectText(HEAD, 'slipway.yml').config!.environments[0]!.registry, undefined);
  const bare = parseProjectText(`${HEAD}    registry: 127.0.0.1:5000\n`, 'slipway.yml');
  assert.deepEqual(bare.problems.map(formatProblem), []);
  assert.deepEqual(bare.config!.environments[0]!.registry, { url: '127.0.0.1:5000' });
  assert.equal(registryRepository(bare.config!.environments[0]!.registry!, 'notes'), '127.0.0.1:5000/notes');
  const full = parseProjectText(`${HEAD}    registry: { url: registry.example.com/team, username_env: REG_USER, password_env: REG_PASSWORD }\n`, 'slipway.yml');
  assert.deepEqual(full.problems.map(formatProblem), []);
  assert.deepEqual(full.config!.environments[0]!.registry, { url: 'registry.example.com/team', usernameEnv: 'REG_USER', passwordEnv: 'REG_PASSWORD' });
});

test('a scheme, a tag, a Docker Hub name, a password in the file or half the credentials are problems at their line', () => {
  const cases: Array<[string, RegExp]> = [
    ['registry: https://registry.example.com', /without a scheme or tag/],
    ['registry: registry.example.com/notes:v1', /without a scheme or tag/],
    ['registry: notes', /without a scheme or tag/],
    ['registry: { url: 127.0.0.1:5000, password: hunter2 }', /password/],
    ['registry: { url: 127.0.0.1:5000, username_env: REG_USER }', /both username_env and password_env/],
    ['registry: { url: 127.0.0.1:5000, username_env: REG_USER, password_env: "not a name" }', /environment variable/],
  ];
  for (const [line, message] of cases) {
    const result = parseProjectText(`${HEAD}    ${line}\n`, 'slipway.yml');
    assert.equal(result.config, undefined, line);
    assert.equal(result.problems.length, 1, `${line}: ${result.problems.map(formatProblem).join('\n')}`);
    assert.equal(result.problems[0]!.line, 8, line);
    assert.match(result.problems[0]!.path, /^environments\.production\.registry/, line);
    assert.match(formatProblem(result.problems[0]!), message, line);
  }
});

test('credentials come from the named variables; an unset one is named, a value never shown', async () => {
  const registry = { url: '127.0.0.1:5000', usernameEnv: 'REG_USER', passwordEnv: 'REG_PASSWORD' };
  assert.equal(registryAuth({ url: '127.0.0.1:5000' }, {}), undefined);
  assert.deepEqual(registryAuth(registry, { REG_USER: 'deployer', REG_PASSWORD: 's3cret-value' }), { username: 'deployer', password: 's3cret-value', serveraddress: '127.0.0.1:5000' });
  const error = await expectRejects(() => registryAuth(registry, { REG_USER: 'deployer-name' }), 'REGISTRY_CREDENTIALS_MISSING', { exitCode: 2, message: /REG_PASSWORD/, hint: /REG_PASSWORD/ });
  assert.doesNotMatch(`${error.message} ${error.hint}`, /deployer-name/);
});

test('a message carrying the password, as such or in the engine\'s base64 forms, has it taken out', () => {
  const auth = { username: 'deployer', password: 's3cret-value', serveraddress: '127.0.0.1:5000' };
  const basic = Buffer.from('deployer:s3cret-value').toString('base64');
  const header = Buffer.from(JSON.stringify(auth)).toString('base64');
  const redacted = redactCredentials(`login s3cret-value failed; Authorization: Basic ${basic}; X-Registry-Auth: ${header}`, auth);
  assert.equal(redacted, 'login *** failed; Authorization: Basic ***; X-Registry-Auth: ***');
  assert.equal(redactCredentials('nothing to hide', undefined), 'nothing to hide');
});

test('tags: the release id; with several images, the release id and the first service running each', () => {
  const id = 'a'.repeat(64);
  assert.equal(registryTag(id, 'web', false), id);
  assert.equal(registryTag(id, 'worker', true), `${id}-worker`);
});
