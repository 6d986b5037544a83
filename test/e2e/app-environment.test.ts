// The app's environment is an allow-list, end to end: a real agent, started with slipway's
// secrets and an unrelated variable in its environment, deploys the notes app; the running
// service (read from /proc/<pid>/environ), the migration, a hook and `slipway exec` get the
// basics (PATH, LANG, LC_*), every line of shared/.env, the keys the release declares (one
// of them set only in the agent's environment) and slipway's variables — nothing else.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { createHostFixture } from '../helpers/host-fixture.js';
import { parseEnv } from '../helpers/env-text.js';

const run = promisify(execFile);

const SECRETS = {
  SLIPWAY_MANAGEMENT_SECRET: 'management-secret-never-for-the-app',
  SLIPWAY_BACKUP_KEY: 'backup-key-never-for-the-app',
  AWS_ACCESS_KEY_ID: 'store-access-key-never-for-the-app',
  AWS_SECRET_ACCESS_KEY: 'store-secret-key-never-for-the-app',
  AWS_SESSION_TOKEN: 'store-session-token-never-for-the-app',
};

it('services, the migration, hooks and exec get the basics, shared/.env, declared keys and slipway’s variables, nothing else of the agent’s', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: [] });
  const git = (...args: string[]) => run('git', args, { cwd: host.repo });

  // v1's code; its project file declares APP_GREETING (set only in the agent's environment)
  // and writes what the migration and a hook see.
  await git('checkout', '-q', '-B', 'env-check', 'v1');
  const yml = path.join(host.repo, 'slipway.yml');
  const text = readFileSync(yml, 'utf8');
  for (const part of [/^config:\n/m, /command: node migrate\.js\n/, /^environments:\n/m]) assert.match(text, part);
  writeFileSync(
    yml,
    text
      .replace(/^config:\n/m, 'config:\n  APP_GREETING:\n    description: set only in the agent\'s environment\n')
      .replace('command: node migrate.js\n', 'command: env > uploads/migrate.env && node migrate.js\n')
      .replace(/^environments:\n/m, 'hooks:\n  after_migrate: ["env > uploads/hook.env"]\nenvironments:\n'),
  );
  await git('commit', '-q', '-am', 'env-check: declares APP_GREETING, records what the migration and a hook see');
  await git('checkout', '-q', 'main');
  const id = await host.build('env-check', 'v4');

  mkdirSync(path.join(host.hostRoot, 'shared'), { recursive: true, mode: 0o750 });
  writeFileSync(path.join(host.hostRoot, 'shared', '.env'), 'APP_LINE=from-the-env-file\n', { mode: 0o600 });

  const extra = { ...SECRETS, UNRELATED_VAR: 'plain', APP_GREETING: 'hello from the agent', LANG: 'C.UTF-8', LC_TIME: 'C.UTF-8', TZ: 'UTC' };
  const agent = await host.startAgent({ env: extra });
  const deployed = await host.cli(['deploy', 'production', '--version', 'v4', '--yes']);
  assert.equal(deployed.code, 0, deployed.stderr);

  // The agent itself has every variable: what follows is its choice, not an empty environment.
  const agentEnv = parseEnv(readFileSync(`/proc/${agent.pid}/environ`, 'utf8'), '\0');
  for (const [name, value] of Object.entries(extra)) assert.equal(agentEnv.get(name), value, `the agent has ${name}`);
  assert.ok(agentEnv.get('SLIPWAY_HOME'), 'the agent has SLIPWAY_HOME');

  const runDir = path.join(host.hostRoot, 'run');
  const pidFiles = readdirSync(runDir).filter((name) => /^web\.(blue|green)\.pid$/.test(name));
  assert.equal(pidFiles.length, 1, `one web service runs: ${pidFiles.join(', ')}`);
  const { pid } = JSON.parse(readFileSync(path.join(runDir, pidFiles[0]!), 'utf8')) as { pid: number };
  const uploads = path.join(host.hostRoot, 'shared', 'uploads');
  const seen: Record<string, Map<string, string>> = {
    service: parseEnv(readFileSync(`/proc/${pid}/environ`, 'utf8'), '\0'),
    migration: parseEnv(readFileSync(path.join(uploads, 'migrate.env'), 'utf8'), '\n'),
    'after_migrate hook': parseEnv(readFileSync(path.join(uploads, 'hook.env'), 'utf8'), '\n'),
  };
  // `slipway exec` runs with the CLI's environment: the same variables in it.
  const exec = await host.cli(['exec', 'production', '--', 'env'], { env: extra });
  assert.equal(exec.code, 0, exec.stderr);
  seen['slipway exec'] = parseEnv(exec.stdout, '\n');

  for (const [who, env] of Object.entries(seen)) {
    assert.equal(env.get('SLIPWAY_RELEASE_ID'), id, `${who}: really the app's environment`);
    for (const name of [...Object.keys(SECRETS), 'UNRELATED_VAR', 'SLIPWAY_HOME', 'SLIPWAY_WHO', 'NO_COLOR']) {
      assert.equal(env.get(name), undefined, `${who} gets no ${name}`);
    }
    const values = [...env.values()];
    for (const secret of Object.values(SECRETS)) assert.ok(!values.some((v) => v.includes(secret)), `${who}: no variable holds ${secret}`);
    assert.equal(env.get('PATH'), agentEnv.get('PATH'), `${who}: PATH`);
    assert.equal(env.get('LANG'), 'C.UTF-8', `${who}: LANG`);
    assert.equal(env.get('LC_TIME'), 'C.UTF-8', `${who}: LC_*`);
    assert.equal(env.get('TZ'), 'UTC', `${who}: TZ`);
    assert.equal(env.get('APP_LINE'), 'from-the-env-file', `${who}: a line of shared/.env`);
    assert.equal(env.get('APP_GREETING'), 'hello from the agent', `${who}: a declared key, from the agent's environment`);
    assert.ok(env.get('NODE_PATH'), `${who}: a declared key with a default`);
    assert.equal(env.get('SLIPWAY_ENV'), 'production', `${who}: slipway's variables`);
  }
  assert.match(seen.service!.get('PORT') ?? '', /^\d+$/, 'the service gets its port');
  assert.equal(seen.migration!.get('PORT'), undefined, 'the migration gets none');
  assert.equal(seen['after_migrate hook']!.get('SLIPWAY_HOOK'), 'after_migrate');
  // Everything the service got is accounted for: the basics, the app's config, its env, slipway's.
  const accounted = /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_.*|TZ|TMPDIR|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|APP_LINE|APP_GREETING|NODE_PATH|NOTES_FAIL_MIGRATION|PORT|SLIPWAY_(ENV|RELEASE_ID|VERSION|SLOT)|PWD|SHLVL|_)$/;
  const unexpected = [...seen.service!.keys()].filter((name) => !accounted.test(name));
  assert.deepEqual(unexpected, [], 'the service has no variable from elsewhere');

  const stopped = await agent.stop();
  assert.equal(stopped.code, 0, agent.output());
});
