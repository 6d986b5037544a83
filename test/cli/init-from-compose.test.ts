import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadProject } from '../../src/config/load.js';
import { readEnvFile } from '../../src/host/app-env.js';
import { describeRun, listTree, makeSandbox, REPO_ROOT, type Sandbox } from '../helpers/cli.js';

const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'compose', 'django');
const DB_PASSWORD = 'Kq7-pg-Passw0rd-x91';
const DJANGO_KEY = 'dj-sk-8f2c1e9a7b3d4f5e6a7b8c9d0e1f2a3b';

function djangoApp(sandbox: Sandbox): string {
  const dir = path.join(sandbox.root, 'notes');
  fs.cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

/** The command line declares --from-compose in src/cli/main.ts; until it does, this test says so and skips. */
async function requireFromComposeOption(t: TestContext, sandbox: Sandbox): Promise<boolean> {
  const help = await sandbox.run(['init', '--help']);
  if (help.stdout.includes('--from-compose')) return true;
  const reason = '`slipway init --help` lists no --from-compose option: src/cli/main.ts must declare it';
  t.diagnostic(`SKIPPED: ${reason}`);
  t.skip(reason);
  return false;
}

test('init --from-compose writes a slipway.yml that loads, and the secrets to the host env file (0600), never printing them', async (t) => {
  const sandbox = makeSandbox(t);
  if (!(await requireFromComposeOption(t, sandbox))) return;
  const dir = djangoApp(sandbox);
  const result = await sandbox.run(['init', '--yes', '--from-compose', 'docker-compose.yml'], { cwd: dir });
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stdout, /^wrote .*slipway\.yml$/m);
  assert.match(result.stdout, /accessory db: postgres:16/);
  assert.match(result.stdout, /^ {2}docker-compose\.yml:27:9: services\.web\.volumes\[1\]: not mapped/m);
  const envFile = path.join(sandbox.home, 'hosts', 'notes-site', 'production', 'shared', '.env');
  assert.match(result.stdout, new RegExp(`wrote 3 secrets to ${envFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(mode 600, values not shown\\): POSTGRES_PASSWORD, DJANGO_SECRET_KEY, DATABASE_URL`));
  for (const secret of [DB_PASSWORD, DJANGO_KEY]) {
    assert.equal(result.stdout.includes(secret) || result.stderr.includes(secret), false, 'a secret value was printed');
  }

  const project = await loadProject({ cwd: dir });
  assert.deepEqual(project.warnings, []);
  assert.deepEqual(project.config.accessories.map((a) => a.name), ['db', 'redis']);
  const written = fs.readFileSync(path.join(dir, 'slipway.yml'), 'utf8');
  assert.equal(written.includes(DB_PASSWORD) || written.includes(DJANGO_KEY), false, 'a secret value is in slipway.yml');

  assert.equal(fs.statSync(envFile).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(sandbox.home, 'hosts', 'notes-site', 'production')).mode & 0o027, 0, 'the host root is open to other users');
  assert.deepEqual(await readEnvFile(envFile), {
    POSTGRES_PASSWORD: DB_PASSWORD,
    DJANGO_SECRET_KEY: DJANGO_KEY,
    DATABASE_URL: `postgres://notes:${DB_PASSWORD}@127.0.0.1:5432/notes`,
  });

  // a second run refuses to overwrite, and changes nothing
  const again = await sandbox.run(['init', '--yes', '--from-compose', 'docker-compose.yml'], { cwd: dir });
  assert.equal(again.code, 2, describeRun(again));
  assert.match(again.stderr, /slipway\.yml already exists/);
  assert.equal(fs.readFileSync(path.join(dir, 'slipway.yml'), 'utf8'), written);

  // with --force it writes again; the host's own value of a secret is kept, and said so
  fs.appendFileSync(envFile, 'DJANGO_SECRET_KEY_OLD=x\n');
  const envText = fs.readFileSync(envFile, 'utf8').replace(`DJANGO_SECRET_KEY=${DJANGO_KEY}`, 'DJANGO_SECRET_KEY=the-host-own-key-123');
  fs.writeFileSync(envFile, envText);
  const forced = await sandbox.run(['init', '--yes', '--force', '--from-compose', 'docker-compose.yml'], { cwd: dir });
  assert.equal(forced.code, 0, describeRun(forced));
  assert.match(forced.stdout, /kept the host's own value of DJANGO_SECRET_KEY/);
  assert.equal((await readEnvFile(envFile)).DJANGO_SECRET_KEY, 'the-host-own-key-123');
});

test('init --from-compose with a YAML error: file:line message, exit 2, nothing written', async (t) => {
  const sandbox = makeSandbox(t);
  if (!(await requireFromComposeOption(t, sandbox))) return;
  const dir = path.join(sandbox.root, 'app');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'compose.yml'), 'services:\n  web:\n    build: .\n    environment:\n      SECRET_KEY: abcdef-123456\n     ports: ["80:80"]\n');
  const result = await sandbox.run(['init', '--yes', '--from-compose', 'compose.yml'], { cwd: dir });
  assert.equal(result.code, 2, describeRun(result));
  assert.match(result.stderr, /compose\.yml cannot be read as a compose file/);
  assert.match(result.stderr, /^ {2}compose\.yml:6:\d+: YAML syntax error/m);
  assert.deepEqual(fs.readdirSync(dir), ['compose.yml']);
  assert.deepEqual(listTree(sandbox.home), []);
});

test('init --from-compose of a file that does not exist: exit 2, nothing written', async (t) => {
  const sandbox = makeSandbox(t);
  if (!(await requireFromComposeOption(t, sandbox))) return;
  const result = await sandbox.run(['init', '--yes', '--from-compose', 'missing.yml']);
  assert.equal(result.code, 2, describeRun(result));
  assert.match(result.stderr, /cannot read missing\.yml/);
  assert.equal(fs.existsSync(path.join(sandbox.root, 'slipway.yml')), false);
});
