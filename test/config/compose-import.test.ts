import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { formatFinding, importComposeFile, importComposeText, type ComposeImport } from '../../src/config/compose-import.js';
import { interpolate } from '../../src/config/compose-source.js';
import { managementSecretEnv, renderInitTemplate } from '../../src/config/init-template.js';
import { parseProjectText } from '../../src/config/load.js';
import type { ProjectConfig } from '../../src/config/types.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'compose');
/** The fixture's secrets: the database password (in .env, used by ${POSTGRES_PASSWORD}) and Django's key (in env_file). */
const DB_PASSWORD = 'Kq7-pg-Passw0rd-x91';
const DJANGO_KEY = 'dj-sk-8f2c1e9a7b3d4f5e6a7b8c9d0e1f2a3b';

function copyFixture(t: Parameters<typeof tempDir>[0], name: string): string {
  const dir = path.join(tempDir(t), name);
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

function loads(imported: ComposeImport): ProjectConfig {
  const parsed = parseProjectText(imported.text, 'slipway.yml');
  assert.deepEqual(parsed.problems, [], imported.text);
  assert.deepEqual(parsed.warnings, []);
  return parsed.config!;
}

/** Everything a person would see: the file written, the summary and every finding. */
function everythingShown(imported: ComposeImport): string {
  return [imported.text, ...imported.mapped, ...imported.findings.map(formatFinding)].join('\n');
}

function findingAt(imported: ComposeImport, line: number, pattern: RegExp): void {
  const found = imported.findings.filter((f) => f.line === line && pattern.test(formatFinding(f)));
  assert.equal(found.length > 0, true, `no finding at line ${line} matching ${pattern}:\n${imported.findings.map(formatFinding).join('\n')}`);
}

test('a Django + PostgreSQL + worker stack: services built from its Dockerfile, the database an accessory that is backed up, a slipway.yml that loads', async (t) => {
  const dir = copyFixture(t, 'django');
  const imported = await importComposeFile({ file: path.join(dir, 'docker-compose.yml'), shownName: 'docker-compose.yml', projectDir: dir });
  const config = loads(imported);

  assert.equal(config.app, 'notes-site');
  // the service with a published port comes first: it is the one the proxy routes to
  assert.deepEqual(config.services.map((s) => s.name), ['web', 'worker']);
  const [web, worker] = config.services;
  assert.deepEqual(web!.container, { build: { context: '.', dockerfile: 'docker/Dockerfile', target: 'web', args: { PYTHON_VERSION: '3.12' } } });
  // the port the compose file hard-coded is the slot's own now, on loopback
  assert.equal(web!.command, 'gunicorn notes.wsgi:application --bind 127.0.0.1:${PORT} --workers 3');
  assert.equal(web!.portEnv, 'PORT');
  assert.deepEqual({ path: web!.health.path, timeoutMs: web!.health.timeoutMs, deadlineMs: web!.health.deadlineMs }, { path: '/health/', timeoutMs: 5000, deadlineMs: 40_000 });
  // environment over env_file; accessories' host names rewritten for host networking
  assert.deepEqual(web!.env, { DEBUG: 'false', DJANGO_SETTINGS_MODULE: 'notes.settings.production', REDIS_URL: 'redis://127.0.0.1:6379/0', ALLOWED_HOSTS: 'notes.example.com' });
  assert.equal(worker!.command, 'celery -A notes worker -l info');

  assert.deepEqual(
    config.accessories.map((a) => [a.name, a.image, a.port, a.volumes, a.secrets]),
    [
      ['db', 'postgres:16', 5432, [{ kind: 'volume', source: 'pgdata', target: '/var/lib/postgresql/data' }], ['POSTGRES_PASSWORD']],
      ['redis', 'redis:7', 6379, [{ kind: 'volume', source: 'redisdata', target: '/data' }], []],
    ],
  );
  assert.deepEqual(config.accessories[0]!.env, { POSTGRES_DB: 'notes', POSTGRES_USER: 'notes' });
  // kept on loopback: with host networking the image would listen on every interface
  assert.deepEqual(config.accessories[0]!.command, ['-c', 'listen_addresses=127.0.0.1']);
  assert.deepEqual(config.data.databases, [{ name: 'main', engine: 'postgres', urlEnv: 'DATABASE_URL', accessory: 'db' }]);
  assert.deepEqual(config.data.folders, ['media']);
  assert.equal(config.migrate?.command, 'python manage.py migrate --noinput');
  assert.deepEqual(
    config.config.map((k) => [k.name, k.required, k.secret]),
    [['DJANGO_SECRET_KEY', true, true], ['DATABASE_URL', true, true], ['SENTRY_DSN', true, false]],
  );

  // the secrets go to the host env file, the URL pointing at the accessory's loopback port
  assert.deepEqual(
    Object.fromEntries(imported.hostValues.map((v) => [v.name, v.value])),
    { POSTGRES_PASSWORD: DB_PASSWORD, DJANGO_SECRET_KEY: DJANGO_KEY, DATABASE_URL: `postgres://notes:${DB_PASSWORD}@127.0.0.1:5432/notes` },
  );
  const shown = everythingShown(imported);
  assert.equal(shown.includes(DB_PASSWORD), false, 'the database password is shown or written');
  assert.equal(shown.includes(DJANGO_KEY), false, "Django's secret key is shown or written");

  // what could not be said the same way, each at its line
  findingAt(imported, 16, /restart: not mapped/);
  findingAt(imported, 26, /became data folder `media`/);
  findingAt(imported, 27, /not mapped: a folder of the project mounted/);
  findingAt(imported, 40, /worker listens on no port/);
  findingAt(imported, 47, /SENTRY_DSN.*comes from the shell/);
  findingAt(imported, 64, /db\.healthcheck: not mapped/);
  findingAt(imported, 71, /no backup engine for a cache/);
});

test('keys slipway has no place for (networks, privileged, cap_add, profiles, extends, unknown ones) are findings at their lines, with why', async (t) => {
  const dir = copyFixture(t, 'unsupported');
  const imported = await importComposeFile({ file: path.join(dir, 'compose.yaml'), shownName: 'compose.yaml', projectDir: dir });
  const config = loads(imported);
  assert.deepEqual(config.services[0]!.container, { image: 'registry.example.com/acme/app:1.4' });
  assert.equal(config.environments[0]!.port, 3000);
  findingAt(imported, 4, /^compose\.yaml:4:5: services\.app\.privileged: not mapped: slipway runs containers without extra privileges/);
  findingAt(imported, 5, /services\.app\.cap_add: not mapped/);
  findingAt(imported, 6, /services\.app\.networks: not mapped: containers run with host networking/);
  findingAt(imported, 7, /services\.app\.profiles: not mapped/);
  findingAt(imported, 8, /services\.app\.extends: not mapped: slipway does not follow it/);
  findingAt(imported, 10, /services\.app\.flux_capacitor: unknown key `flux_capacitor`/);
  findingAt(imported, 15, /^compose\.yaml:15:1: networks: not mapped/);
  findingAt(imported, 17, /secrets: not mapped: file secrets/);
  findingAt(imported, 20, /frobnicate: unknown key/);
  // PORT=3000 in its environment: the port variable it already reads, so no finding asks it to change
  assert.equal(config.services[0]!.portEnv, 'PORT');
  assert.equal(imported.findings.some((f) => /make the app listen/.test(f.message)), false);
});

function importText(t: Parameters<typeof tempDir>[0], text: string, files: Record<string, string> = {}): ComposeImport {
  const dir = tempDir(t);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return importComposeText({ text, shownName: 'compose.yml', composeDir: dir, projectDir: dir });
}

test('YAML errors, a file that is not a mapping, and one without services: file:line messages, exit 2', (t) => {
  const broken = expectThrows(() => importText(t, 'services:\n  web:\n    image: app:1\n   ports: [80]\n'), 'COMPOSE_INVALID', { exitCode: 2, hint: /nothing was written/ });
  assert.match(broken.details.join('\n'), /^compose\.yml:4:\d+: YAML syntax error/m);
  const duplicate = expectThrows(() => importText(t, 'services:\n  web:\n    image: app:1\n    image: app:2\n'), 'COMPOSE_INVALID', { exitCode: 2 });
  assert.match(duplicate.details.join('\n'), /^compose\.yml:4:5: duplicate key/m);
  const list = expectThrows(() => importText(t, '- web\n- db\n'), 'COMPOSE_INVALID', { exitCode: 2 });
  assert.match(list.details.join('\n'), /^compose\.yml:1:1: expected a compose file: a mapping with `services:`/m);
  const noServices = expectThrows(() => importText(t, 'version: "3.8"\nvolumes:\n  data: {}\n'), 'COMPOSE_INVALID', { exitCode: 2 });
  assert.match(noServices.details.join('\n'), /^compose\.yml:\d+:\d+: services: expected a compose file/m);
  expectThrows(() => importText(t, 'services:\n  db:\n    image: postgres:16\n'), 'COMPOSE_NO_APP_SERVICE', { exitCode: 2, hint: /build: \./ });
});

test('a missing compose file is a usage error naming it', async (t) => {
  const dir = tempDir(t);
  await expectRejects(importComposeFile({ file: path.join(dir, 'nope.yml'), shownName: 'nope.yml', projectDir: dir }), 'COMPOSE_UNREADABLE', { exitCode: 2, message: /nope\.yml/ });
});

test('MariaDB with no URL in the app: DATABASE_URL is made from its own settings, for the backups, and kept out of slipway.yml', (t) => {
  const password = 'maria-app-pw-5521';
  const imported = importText(
    t,
    [
      'services:',
      '  app:',
      '    build: .',
      '    ports: ["8080:80"]',
      '    environment:',
      '      DB_HOST: mariadb',
      '      BROKER_URL: amqp://guest:rabbit-pw-9911@queue:5672/',
      '      CALLBACK_URL: http://app:80/hooks',
      '  mariadb:',
      '    image: mariadb:11',
      '    environment:',
      '      MARIADB_DATABASE: shop',
      '      MARIADB_USER: shop',
      `      MARIADB_PASSWORD: ${password}`,
      '      MARIADB_ROOT_PASSWORD: root-pw-77123',
      '    volumes: ["./db-data:/var/lib/mysql"]',
      '',
    ].join('\n'),
  );
  const config = loads(imported);
  assert.deepEqual(config.data.databases, [{ name: 'main', engine: 'mysql', urlEnv: 'DATABASE_URL', accessory: 'mariadb' }]);
  assert.deepEqual(config.accessories[0]!.secrets, ['MARIADB_PASSWORD', 'MARIADB_ROOT_PASSWORD']);
  assert.deepEqual(config.accessories[0]!.volumes, [{ kind: 'folder', source: 'db-data', target: '/var/lib/mysql' }]);
  assert.deepEqual(config.accessories[0]!.command, ['--bind-address=127.0.0.1']);
  const values = Object.fromEntries(imported.hostValues.map((v) => [v.name, v.value]));
  assert.equal(values.DATABASE_URL, `mysql://shop:${password}@127.0.0.1:3306/shop`);
  // a URL with a password is a secret whatever its variable's name
  assert.equal(values.BROKER_URL, 'amqp://guest:rabbit-pw-9911@queue:5672/');
  assert.equal(config.config.find((k) => k.name === 'BROKER_URL')?.secret, true);
  // a host variable naming the accessory now names loopback
  assert.equal(config.services[0]!.env.DB_HOST, '127.0.0.1');
  findingAt(imported, 8, /CALLBACK_URL` names service app by its compose host name/);
  for (const value of [password, 'root-pw-77123', 'rabbit-pw-9911']) assert.equal(everythingShown(imported).includes(value), false, value);
});

test("a secret's value written into a command is replaced by its variable, never copied", (t) => {
  const imported = importText(
    t,
    'services:\n  web:\n    build: .\n    command: ./serve --port 80 --token tok-3345-abcdef\n    ports: ["80:80"]\n    environment:\n      API_TOKEN: tok-3345-abcdef\n',
  );
  const config = loads(imported);
  assert.equal(config.services[0]!.command, './serve --port ${PORT} --token ${API_TOKEN}');
  assert.equal(imported.text.includes('tok-3345-abcdef'), false);
  // the proxy takes the published port, and the finding says what that asks of the machine
  assert.equal(config.environments[0]!.port, 80);
  findingAt(imported, 5, /below 1024 needs root or CAP_NET_BIND_SERVICE/);
});

test("interpolation follows the compose file's rules, from its .env only", () => {
  const vars = { A: 'one', EMPTY: '' };
  assert.deepEqual(interpolate('${A}-$A-$$A', vars), { value: 'one-one-$A', unresolved: [] });
  assert.deepEqual(interpolate('${EMPTY:-d}/${EMPTY-d}/${MISSING:-x}', vars), { value: 'd//x', unresolved: [] });
  assert.deepEqual(interpolate('${A:+set}${MISSING:+set}', vars), { value: 'set', unresolved: [] });
  assert.deepEqual(interpolate('${HOME}', vars), { value: '', unresolved: ['HOME'] });
});

test('init suggests one management secret per environment, never one shared by all (both templates), and the suggestion loads', async (t) => {
  const dir = copyFixture(t, 'django');
  const fromCompose = (await importComposeFile({ file: path.join(dir, 'docker-compose.yml'), shownName: 'docker-compose.yml', projectDir: dir })).text;
  const plain = renderInitTemplate({ app: 'notes', startCommand: 'npm start', buildCommands: [], port: 8080 });
  for (const text of [fromCompose, plain]) {
    assert.match(text, /^ {4}# management: \{ port: 9090, secret_env: SLIPWAY_MANAGEMENT_SECRET_PRODUCTION \}$/m);
    assert.doesNotMatch(text, /SLIPWAY_MANAGEMENT_SECRET(?!_PRODUCTION)/);
    const enabled = parseProjectText(text.replace('    # management: {', '    management: {'), 'slipway.yml');
    assert.deepEqual(enabled.problems, []);
    assert.equal(enabled.config!.environments[0]!.management?.secretEnv, 'SLIPWAY_MANAGEMENT_SECRET_PRODUCTION');
  }
  assert.equal(managementSecretEnv('eu-staging'), 'SLIPWAY_MANAGEMENT_SECRET_EU_STAGING');
});

test('a database published on a loopback port listens there under host networking; a shared env_file gives every service the same rewritten URL', (t) => {
  const imported = importText(
    t,
    [
      'services:',
      '  web:',
      '    build: .',
      '    env_file: db.env',
      '    ports: ["8000:8000"]',
      '  worker:',
      '    build: .',
      '    command: node worker.js',
      '    env_file: db.env',
      '  db:',
      '    image: postgres:15',
      '    env_file: db.env',
      '    volumes: [pgdata:/var/lib/postgresql/data]',
      '    ports: ["127.0.0.1:25432:5432"]',
      '',
    ].join('\n'),
    { 'db.env': 'POSTGRES_PASSWORD=pg-shared-pw-3141\nDATABASE_URL=postgres://notes:pg-shared-pw-3141@db:5432/notes\n' },
  );
  const config = loads(imported);
  const db = config.accessories[0]!;
  assert.equal(db.port, 25432, 'where the host reached it');
  assert.deepEqual(db.command, ['-c', 'listen_addresses=127.0.0.1', '-c', 'port=25432']);
  const values = Object.fromEntries(imported.hostValues.map((v) => [v.name, v.value]));
  assert.equal(values.DATABASE_URL, 'postgres://notes:pg-shared-pw-3141@127.0.0.1:25432/notes');
  assert.deepEqual(config.data.databases, [{ name: 'main', engine: 'postgres', urlEnv: 'DATABASE_URL', accessory: 'db' }]);
  assert.equal(config.services[1]!.health.http, false, 'the worker listens on no port');
  const shown = imported.findings.map(formatFinding);
  assert.equal(shown.filter((f) => /DATABASE_URL` named db/.test(f)).length, 1, `one finding for the shared env_file line:\n${shown.join('\n')}`);
  assert.equal(shown.some((f) => /another value in another service/.test(f)), false, shown.join('\n'));
});
