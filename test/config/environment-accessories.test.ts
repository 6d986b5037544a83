import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem, parseProjectText } from '../../src/config/load.js';
import { environmentAccessories } from '../../src/config/environment-accessories.js';
import { renderRemoteHostConfig } from '../../src/remote/host-config.js';

const HEAD = `app: notes
services:
  web:
    image: notes-web:1
accessories:
  db:
    image: postgres:15
    volumes: [pgdata:/var/lib/postgresql/data]
    env: { POSTGRES_DB: notes, PGPORT: "5432" }
    port: 5432
`;

test("an environment gives an accessory its own port, env and command; others keep slipway.yml's", () => {
  const result = parseProjectText(
    HEAD +
      `environments:
  production:
    port: 8080
  staging:
    port: 8081
    accessories:
      db: { port: 5433, env: { PGPORT: "5433" }, command: [postgres, -c, jit=off] }
`,
    'slipway.yml',
  );
  assert.deepEqual(result.problems.map(formatProblem), []);
  assert.deepEqual(result.warnings, []);
  const config = result.config!;
  const staging = config.environments.find((e) => e.name === 'staging')!;
  const production = config.environments.find((e) => e.name === 'production')!;
  const [stagingDb] = environmentAccessories(config.accessories, staging);
  assert.equal(stagingDb!.port, 5433);
  assert.deepEqual(stagingDb!.env, { POSTGRES_DB: 'notes', PGPORT: '5433' });
  assert.deepEqual(stagingDb!.command, ['postgres', '-c', 'jit=off']);
  assert.deepEqual(stagingDb!.volumes, config.accessories[0]!.volumes, 'what the environment does not change stays');
  const [productionDb] = environmentAccessories(config.accessories, production);
  assert.equal(productionDb!.port, 5432);
  assert.deepEqual(productionDb!.env, { POSTGRES_DB: 'notes', PGPORT: '5432' });
  assert.equal(productionDb!.command, undefined);
});

test('an environment naming an accessory slipway.yml does not declare is refused at its line', () => {
  const result = parseProjectText(HEAD + `environments:\n  staging:\n    port: 8081\n    accessories:\n      cache: { port: 6380 }\n`, 'slipway.yml');
  assert.equal(result.config, undefined);
  assert.equal(result.problems.length, 1, result.problems.map(formatProblem).join('\n'));
  const [problem] = result.problems;
  assert.equal(problem!.path, 'environments.staging.accessories.cache');
  assert.equal(problem!.line, 15);
  assert.match(problem!.message, /unknown accessory `cache`; accessories: db/);
});

test('a wrong type in an environment\'s accessory settings says what is expected', () => {
  const result = parseProjectText(HEAD + `environments:\n  staging:\n    port: 8081\n    accessories:\n      db: { port: high }\n`, 'slipway.yml');
  assert.equal(result.config, undefined);
  const problem = result.problems.find((p) => p.path === 'environments.staging.accessories.db.port');
  assert.ok(problem, result.problems.map(formatProblem).join('\n'));
  assert.match(problem.message, /port/);
});

test('two environments on one machine with the accessory on the same port get a warning that says how to fix it', () => {
  const result = parseProjectText(HEAD + `environments:\n  production:\n    port: 8080\n  staging:\n    port: 8081\n`, 'slipway.yml');
  assert.ok(result.config, result.problems.map(formatProblem).join('\n'));
  assert.equal(result.warnings.length, 1, result.warnings.join('\n'));
  assert.match(result.warnings[0]!, /environments `production` and `staging` both run the accessory db on port 5432 on host local/);
  assert.match(result.warnings[0]!, /environments\.staging\.accessories\.db: \{ port: <another>/);
});

test("a remote host's config carries the accessory as its environment runs it", () => {
  const result = parseProjectText(
    HEAD + `environments:\n  staging:\n    host: ssh://deploy@stage.example.com\n    port: 8081\n    accessories:\n      db: { port: 5433, env: { PGPORT: "5433" } }\n`,
    'slipway.yml',
  );
  const config = result.config!;
  const staging = config.environments[0]!;
  const rendered = renderRemoteHostConfig({ project: config, environment: staging, host: { name: 'stage', root: '/srv/notes' } });
  assert.match(rendered.yaml, /port: 5433/);
  assert.match(rendered.yaml, /PGPORT: "5433"/);
  assert.doesNotMatch(rendered.yaml, /port: 5432/);
});
