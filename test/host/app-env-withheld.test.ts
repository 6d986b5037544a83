// What the app's processes get (serviceEnvironment): of the agent's environment only the
// allow-list (PATH, HOME, LANG, LC_*…), never slipway's own secrets (withheldFromApp), nor,
// for the backup key, its line of shared/.env; every other env file line and the app's
// declared keys arrive.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInheritedFromAgent, resolveAppConfig, serviceEnvironment, withheldFromApp, type SecretSources } from '../../src/host/app-env.js';
import type { ConfigKeyConfig } from '../../src/config/types.js';

const S3: SecretSources = {
  management: { bind: '127.0.0.1', port: 9090, secretEnv: 'MGMT_SECRET' },
  backupKeyEnv: 'BACKUP_KEY',
  store: { type: 's3', bucket: 'b', forcePathStyle: true },
};
const LOCAL: SecretSources = { management: null, store: { type: 'local' } };

const AGENT_ENV: NodeJS.ProcessEnv = {
  PATH: '/usr/bin',
  HOME: '/home/deploy',
  LANG: 'C.UTF-8',
  LC_TIME: 'en_GB.UTF-8',
  TZ: 'Europe/Paris',
  ORDINARY: 'plain',
  MGMT_SECRET: 'agent-management-secret',
  BACKUP_KEY: 'agent-backup-key',
  AWS_ACCESS_KEY_ID: 'agent-access-key',
  AWS_SECRET_ACCESS_KEY: 'agent-secret-key',
  AWS_SESSION_TOKEN: 'agent-session-token',
  AWS_REGION: 'eu-west-1',
  SLIPWAY_TEST_FAULT: 'crash',
  SLIPWAY_HOME: '/srv/slipway',
};

function key(name: string, extra: Partial<ConfigKeyConfig> = {}): ConfigKeyConfig {
  return { name, required: false, secret: false, ...extra };
}

/** The environment a service of a release with `schema` gets. */
function appEnv(o: { secrets: SecretSources; schema?: ConfigKeyConfig[]; envFile?: Record<string, string>; processEnv?: NodeJS.ProcessEnv }) {
  const processEnv = o.processEnv ?? AGENT_ENV;
  const resolved = resolveAppConfig({ schema: o.schema ?? [], envFile: o.envFile ?? {}, processEnv, secrets: o.secrets });
  const env = serviceEnvironment({ processEnv, secrets: o.secrets, appConfig: resolved.values, serviceEnv: {}, extra: { SLIPWAY_ENV: 'production' } });
  return { env, missing: resolved.missing };
}

test('the rule: slipway’s own secret names, from the agent; the backup key line, from shared/.env unless declared', () => {
  const withheld = withheldFromApp(S3);
  for (const name of ['MGMT_SECRET', 'BACKUP_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'SLIPWAY_TEST_X']) {
    assert.equal(withheld.agentEnv(name), true, name);
  }
  for (const name of ['ORDINARY', 'AWS_REGION', 'SLIPWAY_HOME', 'PATH']) assert.equal(withheld.agentEnv(name), false, name);
  assert.equal(withheld.envFileLine('BACKUP_KEY', false), true);
  assert.equal(withheld.envFileLine('BACKUP_KEY', true), false, 'a release that declares the name claims the line');
  for (const name of ['MGMT_SECRET', 'AWS_ACCESS_KEY_ID', 'ANY']) assert.equal(withheld.envFileLine(name, false), false, `${name}: slipway does not read it from shared/.env`);

  const local = withheldFromApp(LOCAL);
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'MGMT_SECRET', 'BACKUP_KEY']) {
    assert.equal(local.agentEnv(name), false, `${name} is not slipway's with a local store, no management API and no backup key`);
  }
  assert.equal(local.agentEnv('SLIPWAY_TEST_X'), true);
  assert.equal(local.envFileLine('BACKUP_KEY', false), false);
});

test('the allow-list: the basics of the agent’s environment, LC_* as a prefix, nothing else', () => {
  for (const name of ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_TIME', 'TZ', 'TMPDIR', 'NODE_EXTRA_CA_CERTS']) {
    assert.equal(isInheritedFromAgent(name), true, name);
  }
  for (const name of ['ORDINARY', 'AWS_REGION', 'SLIPWAY_HOME', 'NODE_OPTIONS', 'NODE_PATH', 'PATHS', 'LC', 'XLC_ALL', 'path', 'SSH_AUTH_SOCK', 'DATABASE_URL']) {
    assert.equal(isInheritedFromAgent(name), false, name);
  }
});

test('a service gets the basics, shared/.env and slipway’s variables; nothing else of the agent’s, and no secret', () => {
  const { env } = appEnv({ secrets: S3, envFile: { BACKUP_KEY: 'file-backup-key', DATABASE_URL: 'postgres://db/app', MGMT_SECRET: 'the app’s own line' } });
  for (const name of ['BACKUP_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'SLIPWAY_TEST_FAULT']) assert.equal(env[name], undefined, name);
  const values = Object.values(env);
  for (const secret of ['agent-management-secret', 'agent-backup-key', 'file-backup-key', 'agent-access-key', 'agent-secret-key', 'agent-session-token']) {
    assert.ok(!values.includes(secret), `${secret} is in no variable`);
  }
  for (const name of ['ORDINARY', 'AWS_REGION', 'SLIPWAY_HOME']) assert.equal(env[name], undefined, `${name}: not on the allow-list, not declared`);
  assert.deepEqual(
    Object.keys(env).sort(),
    ['DATABASE_URL', 'HOME', 'LANG', 'LC_TIME', 'MGMT_SECRET', 'PATH', 'SLIPWAY_ENV', 'TZ'],
    'exactly the basics, the env file’s lines and slipway’s variable',
  );
  assert.equal(env.PATH, '/usr/bin');
  assert.equal(env.LC_TIME, 'en_GB.UTF-8');
  assert.equal(env.DATABASE_URL, 'postgres://db/app');
  assert.equal(env.MGMT_SECRET, 'the app’s own line', 'slipway reads its management secret from its own environment only: a line of shared/.env is the app’s');
  assert.equal(env.SLIPWAY_ENV, 'production');
});

test('a key the app declares: its value from shared/.env or its default arrives, never slipway’s value from the agent', () => {
  const schema = [key('AWS_ACCESS_KEY_ID'), key('AWS_SECRET_ACCESS_KEY', { required: true, secret: true }), key('AWS_SESSION_TOKEN', { default: 'app-default-token' }), key('BACKUP_KEY'), key('GREETING')];
  const { env, missing } = appEnv({
    secrets: S3,
    schema,
    envFile: { AWS_ACCESS_KEY_ID: 'app-access-key', BACKUP_KEY: 'app-claims-this-line' },
    processEnv: { ...AGENT_ENV, GREETING: 'hello from the agent' },
  });
  assert.equal(env.AWS_ACCESS_KEY_ID, 'app-access-key');
  assert.equal(env.AWS_SESSION_TOKEN, 'app-default-token');
  assert.equal(env.BACKUP_KEY, 'app-claims-this-line');
  assert.equal(env.GREETING, 'hello from the agent', 'a declared key that is not slipway’s still comes from the agent');
  assert.equal(env.AWS_SECRET_ACCESS_KEY, undefined, 'only in the agent’s environment: slipway’s, not passed');
  assert.deepEqual(missing, ['AWS_SECRET_ACCESS_KEY'], 'a required key set only where slipway keeps its own secret is missing');
});

test('with a local store and no management API or backup key, an AWS variable reaches the app only when declared', () => {
  const { env } = appEnv({ secrets: LOCAL, schema: [key('MGMT_SECRET', { required: true }), key('AWS_ACCESS_KEY_ID')] });
  assert.equal(env.AWS_ACCESS_KEY_ID, 'agent-access-key', 'declared, and not slipway’s secret here: from the agent');
  assert.equal(env.MGMT_SECRET, 'agent-management-secret', 'declared, and no management API: from the agent');
  assert.equal(env.AWS_SECRET_ACCESS_KEY, undefined, 'not declared');
  assert.equal(env.BACKUP_KEY, undefined, 'not declared');
  assert.equal(env.SLIPWAY_TEST_FAULT, undefined);
});

test('the service’s env and slipway’s variables win over the env file; the env file wins over the basics', () => {
  const resolved = resolveAppConfig({ schema: [], envFile: { PATH: '/opt/app/bin', PORT: '1', GREETING: 'file' }, processEnv: AGENT_ENV, secrets: LOCAL });
  const env = serviceEnvironment({ processEnv: AGENT_ENV, secrets: LOCAL, appConfig: resolved.values, serviceEnv: { GREETING: 'service' }, extra: { PORT: '4000' } });
  assert.equal(env.PATH, '/opt/app/bin');
  assert.equal(env.GREETING, 'service');
  assert.equal(env.PORT, '4000');
});

test('a secret named like a basic (management.secret_env: TZ) is still withheld', () => {
  const secrets: SecretSources = { management: { bind: '127.0.0.1', port: 9090, secretEnv: 'TZ' }, store: { type: 'local' } };
  const { env } = appEnv({ secrets });
  assert.equal(env.TZ, undefined);
  assert.equal(env.LANG, 'C.UTF-8');
});
