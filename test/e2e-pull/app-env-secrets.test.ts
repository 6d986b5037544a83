// Secrets never leak into the app (promise 5), end to end: a real agent with an S3
// store (s3rver), its management API on and a backup key, deploys the notes app; the
// running service (read from /proc/<pid>/environ), the migration, a hook and
// `slipway exec` get none of slipway's own secrets, from the agent's environment or
// (the backup key) from shared/.env, nor any other variable of the agent's beyond the
// basics (PATH, LANG…), while an env file line and the app's declared config keys, one of
// them named like a store credential, arrive.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createPullFixture, MANAGEMENT_SECRET, MANAGEMENT_SECRET_ENV } from '../helpers/pull-fixture.js';
import { commitAll, git } from '../helpers/cli.js';
import { S3RVER_CREDENTIALS } from '../helpers/s3.js';
import { parseEnv } from '../helpers/env-text.js';

const BACKUP_KEY_ENV = 'SLIPWAY_BACKUP_KEY';
const SESSION_TOKEN = 'agent-session-token-never-for-the-app';

test('services, the migration, hooks and exec get no management secret, backup key or store credentials', { timeout: 150_000 }, async (t) => {
  const f = await createPullFixture(t);
  const agentBackupKey = randomBytes(32).toString('base64');
  const fileBackupKey = randomBytes(32).toString('base64');

  // A release of v1's code whose project file declares two config keys (one named like
  // a store credential: the app's own), and writes what its migration and a hook see.
  const yml = path.join(f.repo, 'slipway.yml');
  const mainYml = readFileSync(yml, 'utf8');
  git(f.repo, 'checkout', '-q', '-b', 'env-check', 'v1');
  const v1Yml = readFileSync(yml, 'utf8');
  for (const part of [/^config:\n/m, /command: node migrate\.js\n/, /^environments:\n/m]) assert.match(v1Yml, part);
  const releaseYml = v1Yml
    .replace(/^config:\n/m, 'config:\n  AWS_ACCESS_KEY_ID:\n    description: the app\'s own bucket key\n  APP_GREETING:\n    required: true\n')
    .replace('command: node migrate.js\n', 'command: env > uploads/migrate.env && node migrate.js\n')
    .replace(/^environments:\n/m, 'hooks:\n  after_migrate: ["env > uploads/hook.env"]\nenvironments:\n');
  writeFileSync(yml, releaseYml);
  commitAll(f.repo, 'v4: declares AWS_ACCESS_KEY_ID and APP_GREETING, records what the migration and a hook see');
  git(f.repo, 'tag', '-a', 'v4', '-m', 'notes v4');
  git(f.repo, 'checkout', '-q', 'main');
  // The environment slipway reads (main's project file): with a backup key too.
  assert.match(mainYml, /^ {4}management: .*\n/m);
  writeFileSync(yml, mainYml.replace(/^( {4}management: .*\n)/m, `$1    backup_key_env: ${BACKUP_KEY_ENV}\n    offsite_backups: false\n`));
  commitAll(f.repo, 'production: a backup key');

  // shared/.env: the backup key (slipway's, read from here), the app's declared key, an undeclared line.
  const hostRoot = f.envs.production!.hostRoot;
  mkdirSync(path.join(hostRoot, 'shared'), { recursive: true, mode: 0o750 });
  writeFileSync(path.join(hostRoot, 'shared', '.env'), `${BACKUP_KEY_ENV}=${fileBackupKey}\nAWS_ACCESS_KEY_ID=app-own-access-key\nAPP_LINE=from-the-env-file\n`, { mode: 0o600 });

  const extra = { [BACKUP_KEY_ENV]: agentBackupKey, AWS_SESSION_TOKEN: SESSION_TOKEN, ORDINARY_VAR: 'plain', APP_GREETING: 'hello from the agent' };
  const published = await f.cliOk<{ id: string }>(['publish', 'production', '--ref', 'v4', '--json']);
  const agent = await f.startAgent('production', { env: extra });
  await f.waitForReport('production', 'v4 healthy', (r) => r.current?.id === published.id && r.health === 'healthy', 60_000);

  // The agent itself has every secret: what follows is its choice, not an empty environment.
  const agentEnv = parseEnv(readFileSync(`/proc/${agent.pid}/environ`, 'utf8'), '\0');
  assert.equal(agentEnv.get(MANAGEMENT_SECRET_ENV), MANAGEMENT_SECRET);
  assert.equal(agentEnv.get('AWS_SECRET_ACCESS_KEY'), S3RVER_CREDENTIALS.secretAccessKey);
  assert.equal(agentEnv.get(BACKUP_KEY_ENV), agentBackupKey);

  const pidFiles = readdirSync(path.join(hostRoot, 'run')).filter((name) => /^web\.(blue|green)\.pid$/.test(name));
  assert.equal(pidFiles.length, 1, `one web service runs: ${pidFiles.join(', ')}`);
  const { pid } = JSON.parse(readFileSync(path.join(hostRoot, 'run', pidFiles[0]!), 'utf8')) as { pid: number };
  const seen: Record<string, Map<string, string>> = {
    service: parseEnv(readFileSync(`/proc/${pid}/environ`, 'utf8'), '\0'),
    migration: parseEnv(readFileSync(path.join(hostRoot, 'shared', 'uploads', 'migrate.env'), 'utf8'), '\n'),
    'after_migrate hook': parseEnv(readFileSync(path.join(hostRoot, 'shared', 'uploads', 'hook.env'), 'utf8'), '\n'),
  };
  // `slipway exec` runs with the CLI's environment: the same secrets in it.
  const exec = await f.cli(['exec', 'production', '--', 'env'], { env: extra });
  assert.equal(exec.code, 0, exec.stderr);
  seen['slipway exec'] = parseEnv(exec.stdout, '\n');

  for (const [who, env] of Object.entries(seen)) {
    assert.equal(env.get('SLIPWAY_RELEASE_ID'), published.id, `${who}: really the app's environment`);
    for (const name of [MANAGEMENT_SECRET_ENV, BACKUP_KEY_ENV, 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      assert.equal(env.get(name), undefined, `${who} gets no ${name}`);
    }
    const values = [...env.values()];
    for (const secret of [MANAGEMENT_SECRET, agentBackupKey, fileBackupKey, SESSION_TOKEN, S3RVER_CREDENTIALS.accessKeyId]) {
      assert.ok(!values.some((value) => value.includes(secret)), `${who}: no variable holds ${secret.slice(0, 6)}…`);
    }
    assert.equal(env.get('AWS_ACCESS_KEY_ID'), 'app-own-access-key', `${who}: the app's declared key, from shared/.env`);
    assert.equal(env.get('APP_GREETING'), 'hello from the agent', `${who}: a declared key from the agent's environment`);
    assert.equal(env.get('APP_LINE'), 'from-the-env-file', `${who}: an undeclared line of shared/.env`);
    assert.equal(env.get('ORDINARY_VAR'), undefined, `${who}: an ordinary variable of the agent is not on the allow-list`);
    assert.equal(env.get('AWS_REGION'), undefined, `${who}: nor is the store's region`);
    assert.equal(env.get('PATH'), agentEnv.get('PATH'), `${who}: the agent's PATH is`);
  }
  assert.equal(seen['after_migrate hook']!.get('SLIPWAY_HOOK'), 'after_migrate');

  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
});
