import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem, parseProjectText, type ConfigProblem } from '../../src/config/load.js';

/** A valid file's tail, so each case below breaks exactly one thing. */
const SERVICES = 'services:\n  web:\n    command: node server.js\n';
const ENVIRONMENTS = 'environments:\n  production:\n    port: 8080\n';

function problemsOf(text: string): ConfigProblem[] {
  const result = parseProjectText(text, 'slipway.yml');
  assert.equal(result.config, undefined, 'a file with problems yields no config');
  assert.ok(result.problems.length > 0, 'expected at least one problem');
  return result.problems;
}

function onlyProblem(text: string): ConfigProblem {
  const problems = problemsOf(text);
  assert.equal(problems.length, 1, `expected one problem, got:\n${problems.map(formatProblem).join('\n')}`);
  return problems[0];
}

function assertAt(problem: ConfigProblem, where: { line: number; column: number; path: string }, message: RegExp): void {
  assert.deepEqual({ line: problem.line, column: problem.column, path: problem.path }, where, formatProblem(problem));
  assert.match(problem.message, message);
  assert.equal(problem.file, 'slipway.yml');
}

test('YAML syntax error is reported at its own line and column', () => {
  const problem = onlyProblem('app: notes\nservices:\n  web: { command: node server.js\n' + ENVIRONMENTS);
  assert.equal(problem.path, '');
  assert.match(problem.message, /^YAML syntax error: /);
  assert.match(problem.message, /flow (map|collection)|\}/i);
  assert.equal(problem.line, 4);
  assert.equal(problem.column, 1);
});

test('unclosed quote is a syntax error with a position', () => {
  const problem = onlyProblem('app: "notes\n' + SERVICES + ENVIRONMENTS);
  assert.match(problem.message, /YAML syntax error: Missing closing "quote/);
  assert.ok(problem.line >= 1 && problem.column >= 1);
});

test('unknown top-level key, with did-you-mean', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + ENVIRONMENTS + 'sigining:\n  key: k\n');
  assertAt(problem, { line: 8, column: 1, path: 'sigining' }, /^unknown key `sigining`; did you mean `signing`\?$/);
  assert.equal(problem.expected, '`signing`');
});

test('misspelt nested key port_evn suggests port_env', () => {
  const problem = onlyProblem('app: notes\nservices:\n  web:\n    command: node server.js\n    port_evn: PORT\n' + ENVIRONMENTS);
  assertAt(problem, { line: 5, column: 5, path: 'services.web.port_evn' }, /unknown key `port_evn`; did you mean `port_env`\?/);
});

test('unknown key with nothing close lists the accepted keys', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + '    replicas: 3\n' + ENVIRONMENTS);
  assertAt(problem, { line: 5, column: 5, path: 'services.web.replicas' }, /unknown key `replicas`; expected one of: command, build, image, port_env, env, health/);
});

test('wrong type: port "abc"', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'environments:\n  production:\n    port: "abc"\n');
  assertAt(problem, { line: 7, column: 11, path: 'environments.production.port' }, /expected a port number: a whole number from 1 to 65535, got text/);
  assert.equal(problem.message.includes('abc'), false, 'the value itself is not echoed');
});

test('port out of range', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'environments:\n  production:\n    port: 70000\n');
  assertAt(problem, { line: 7, column: 11, path: 'environments.production.port' }, /^expected a port number: a whole number from 1 to 65535$/);
});

test('missing required app points at the top-level mapping', () => {
  const problem = onlyProblem('# my app\n' + SERVICES + ENVIRONMENTS);
  assertAt(problem, { line: 2, column: 1, path: 'app' }, /^missing required key `app` \(the app name, like notes\)$/);
});

test('missing services', () => {
  const problem = onlyProblem('app: notes\n' + ENVIRONMENTS);
  assertAt(problem, { line: 1, column: 1, path: 'services' }, /^missing required key `services`/);
});

test('missing nested required key points at its parent mapping', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'environments:\n  production:\n    host: local\n');
  assertAt(problem, { line: 7, column: 5, path: 'environments.production.port' }, /^missing required key `port` \(a port number/);
});

test('empty services mapping needs at least one service', () => {
  const problem = onlyProblem('app: notes\nservices: {}\n' + ENVIRONMENTS);
  assertAt(problem, { line: 2, column: 11, path: 'services' }, /expected at least one service/);
});

test('bad duration', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + '    health:\n      interval: soon\n' + ENVIRONMENTS);
  assertAt(problem, { line: 6, column: 17, path: 'services.web.health.interval' }, /^expected a duration like 500ms, 2s or 1m$/);
});

test('bad engine lists the accepted engines', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'data:\n  databases:\n    main: { engine: oracle, url_env: DB }\n' + ENVIRONMENTS);
  assertAt(problem, { line: 7, column: 21, path: 'data.databases.main.engine' }, /^expected one of: postgres, mysql, sqlite$/);
  assert.equal(problem.expected, 'one of: postgres, mysql, sqlite');
});

test('postgres without url_env points at the database mapping', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'data:\n  databases:\n    pg:\n      engine: postgres\n' + ENVIRONMENTS);
  assertAt(problem, { line: 8, column: 7, path: 'data.databases.pg.url_env' }, /missing required key `url_env`/);
});

test('sqlite path with .. is refused', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'data:\n  databases:\n    main: { engine: sqlite, path: ../notes.db }\n' + ENVIRONMENTS);
  assertAt(problem, { line: 7, column: 35, path: 'data.databases.main.path' }, /relative to the host's shared folder \(not absolute, no \.\.\)/);
});

test('absolute data folder is refused', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'data:\n  folders: [uploads, /var/uploads]\n' + ENVIRONMENTS);
  assertAt(problem, { line: 6, column: 22, path: 'data.folders[1]' }, /not absolute, no \.\./);
});

test('health path must start with /', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + '    health: { path: healthz }\n' + ENVIRONMENTS);
  assertAt(problem, { line: 5, column: 21, path: 'services.web.health.path' }, /starting with \//);
});

test('a secret-looking env value is refused without echoing it', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + '    env:\n      NODE_ENV: production\n      Stripe_Api_Key: sk_live_abcdef123\n' + ENVIRONMENTS);
  assertAt(problem, { line: 7, column: 23, path: 'services.web.env.Stripe_Api_Key' }, /looks like a secret/);
  assert.match(problem.message, /secrets come from the environment or a secrets file with 0600 permissions/);
  assert.equal(formatProblem(problem).includes('sk_live_abcdef123'), false);
});

test('a URL with a password anywhere is refused, and the password never appears', () => {
  const text = 'app: notes\n' + SERVICES + 'build:\n  commands:\n    - curl https://bob:hunter2secret@example.com/setup.sh\n' + ENVIRONMENTS;
  const result = parseProjectText(text, 'slipway.yml');
  assert.equal(result.problems.length, 1);
  assertAt(result.problems[0], { line: 7, column: 7, path: 'build.commands[0]' }, /contains a URL with a password/);
  assert.match(result.problems[0].message, /0600 permissions/);
  assert.equal(JSON.stringify(result).includes('hunter2secret'), false);
});

test('a secret config key with a default is refused', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'config:\n  SESSION_SECRET:\n    secret: true\n    default: changeme\n' + ENVIRONMENTS);
  assertAt(problem, { line: 8, column: 5, path: 'config.SESSION_SECRET.default' }, /`SESSION_SECRET` is a secret, so it cannot have a default/);
  assert.equal(problem.message.includes('changeme'), false);
});

test('require_signature without public keys', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'environments:\n  production:\n    port: 8080\n    require_signature: true\n');
  assertAt(problem, { line: 8, column: 24, path: 'environments.production.require_signature' }, /no public key is listed; add public_keys/);
});

test('duplicate key', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'environments:\n  production:\n    port: 8080\n    port: 8081\n');
  assertAt(problem, { line: 8, column: 5, path: 'environments.production.port' }, /^duplicate key `port`/);
});

test('bad config key name points at the key', () => {
  const problem = onlyProblem('app: notes\n' + SERVICES + 'config:\n  session-secret: { required: true }\n' + ENVIRONMENTS);
  assertAt(problem, { line: 6, column: 3, path: 'config.session-secret' }, /an environment variable name: letters, digits and _/);
});

test('an empty file says what it should contain', () => {
  const problem = onlyProblem('');
  assertAt(problem, { line: 1, column: 1, path: '' }, /expected a mapping with at least app, services and environments, got nothing/);
});

test('several problems in one file are all reported at once, in file order', () => {
  const text = [
    'app: Notes App', // 1
    'services:', // 2
    '  web:', // 3
    '    command: node server.js', // 4
    '    port_evn: PORT', // 5
    '    health: { interval: fast }', // 6
    'data:', // 7
    '  databases:', // 8
    '    main: { engine: sqlite, path: /abs/notes.db }', // 9
    'environments:', // 10
    '  production:', // 11
    '    port: 0', // 12
    '    require_signature: true', // 13
    '  staging:', // 14
    '    host: ftp://somewhere', // 15
    '    port: 8081', // 16
    'enviroment: {}', // 17
  ].join('\n');
  const lines = problemsOf(text).map((problem) => `${problem.line}:${problem.column} ${problem.path}`);
  assert.deepEqual(lines, [
    '1:6 app',
    '5:5 services.web.port_evn',
    '6:25 services.web.health.interval',
    '9:35 data.databases.main.path',
    '12:11 environments.production.port',
    '13:24 environments.production.require_signature',
    '15:11 environments.staging.host',
    '17:1 enviroment',
  ]);
});

test('a URL whose password is a $VARIABLE reference is allowed: the secret stays in the environment', () => {
  const text = 'app: notes\n' + SERVICES + 'build:\n  commands: ["git clone https://ci:${GIT_TOKEN}@git.example.com/x.git", "curl https://u:$PW@h/"]\n' + ENVIRONMENTS;
  const result = parseProjectText(text, 'slipway.yml');
  assert.deepEqual(result.problems, []);
  assert.equal(result.config?.build.commands.length, 2);
});

test('an unresolved alias is a problem, not a crash', () => {
  const problem = onlyProblem('app: notes\nservices:\n  web: *base\n' + ENVIRONMENTS);
  assertAt(problem, { line: 3, column: 8, path: '' }, /Unresolved alias/);
});

test('remote hosts: an unknown dependency or service is reported at its line, and host + hosts together are refused', () => {
  const head = 'app: notes\n' + SERVICES + 'environments:\n  production:\n    port: 8080\n';
  const unknownDependency = onlyProblem(`${head}    hosts:\n      auth: { ssh: ssh://deploy@auth.example.com }\n      app1:\n        ssh: ssh://deploy@app1.example.com\n        depends_on: [auht]\n`);
  assertAt(unknownDependency, { line: 12, column: 22, path: 'environments.production.hosts.app1.depends_on[0]' }, /unknown host or service `auht`; hosts: auth, app1; services: web/);

  const unknownService = onlyProblem(`${head}    hosts:\n      auth: { ssh: ssh://deploy@auth.example.com, services: [auth] }\n`);
  assert.equal(unknownService.path, 'environments.production.hosts.auth.services[0]');
  assert.match(unknownService.message, /unknown service `auth`; the project's services: web/);

  const both = onlyProblem(`${head}    host: ssh://deploy@one.example.com\n    hosts:\n      auth: { ssh: ssh://deploy@auth.example.com }\n`);
  assert.equal(both.path, 'environments.production.hosts');
  assert.match(both.message, /either `host` .* or `hosts`/);

  const self = onlyProblem(`${head}    hosts:\n      auth: { ssh: ssh://deploy@auth.example.com, depends_on: [auth] }\n`);
  assert.match(self.message, /cannot depend on itself/);

  const badUrl = onlyProblem(`${head}    hosts:\n      auth: { ssh: "deploy@auth.example.com" }\n`);
  assert.equal(badUrl.path, 'environments.production.hosts.auth.ssh');
  assert.match(badUrl.message, /expected ssh:\/\/user@host\[:port\]/);
});

test('remote hosts parse into the environment, in file order, with their overrides', () => {
  const result = parseProjectText(
    'app: notes\n' + SERVICES + 'environments:\n  production:\n    port: 8080\n    hosts:\n      auth: { ssh: "ssh://deploy@auth.example.com:2222", root: /srv/s, port: 9000, bind: 0.0.0.0, services: [web] }\n      app1: { ssh: ssh://app1.example.com, depends_on: [auth, web] }\n',
    'slipway.yml',
  );
  assert.deepEqual(result.problems, []);
  const env = result.config!.environments[0]!;
  assert.equal(env.host, 'ssh://deploy@auth.example.com:2222');
  assert.deepEqual(env.hosts, [
    { name: 'auth', ssh: 'ssh://deploy@auth.example.com:2222', root: '/srv/s', port: 9000, bind: '0.0.0.0', services: ['web'], dependsOn: [] },
    { name: 'app1', ssh: 'ssh://app1.example.com', dependsOn: ['auth', 'web'] },
  ]);
});
