/**
 * Off-site copies in the store, for hosts driven over SSH: the host's own slipway.yml keeps a
 * local folder store (releases come over SSH) and sends its encrypted backups to the
 * environment's S3 store (`offsite_store`), when the environment has a backup key and does not
 * turn them off; a folder store on the operator's machine keeps them off. The staging host that
 * copies from it reads the same place. No secret value is ever written into the file.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseProjectText } from '../../src/config/load.js';
import type { EnvironmentConfig, ProjectConfig } from '../../src/config/types.js';
import { offsiteEnabled, offsiteStoreConfig } from '../../src/data/offsite.js';
import { renderRemoteHostConfig } from '../../src/remote/host-config.js';

function parseOrFail(text: string, file = 'slipway.yml'): ProjectConfig {
  const parsed = parseProjectText(text, file);
  assert.deepEqual(parsed.problems, [], `${file} should parse:\n${text}`);
  assert.ok(parsed.config);
  return parsed.config;
}

function environmentOf(project: ProjectConfig, name: string): EnvironmentConfig {
  const env = project.environments.find((e) => e.name === name);
  assert.ok(env, `environment ${name}`);
  return env;
}

const S3_STORE = '{ type: s3, bucket: notes-store, region: eu-west-1, endpoint: "https://s3.example.com", prefix: notes/, force_path_style: true }';

/** production on SSH hosts with the settings given, and staging on another server copying it. */
function project(productionSettings: string[]): ProjectConfig {
  return parseOrFail(`
app: notes
services:
  web: { command: npm start }
data:
  databases:
    main: { engine: sqlite, path: data/app.db }
environments:
  production:
    hosts:
      app1: { ssh: ssh://deploy@app1.example.com }
    port: 8080
${productionSettings.map((line) => `    ${line}`).join('\n')}
  staging:
    hosts:
      stage1: { ssh: ssh://deploy@stage1.example.com }
    port: 8081
    data_copy: { from: production, schedule: "0 3 * * *", no_scrub: true }
`);
}

/** production's host file, parsed back with the real loader, and its text. */
function productionHost(p: ProjectConfig): { env: EnvironmentConfig; yaml: string } {
  const rendered = renderRemoteHostConfig({ project: p, environment: environmentOf(p, 'production'), host: { name: 'app1', root: '/srv/notes' } });
  return { env: environmentOf(parseOrFail(rendered.yaml, '/srv/notes/slipway.yml'), 'production'), yaml: rendered.yaml };
}

/** where staging's host reads production's off-site copies */
function stagingReadsFrom(p: ProjectConfig): EnvironmentConfig {
  const rendered = renderRemoteHostConfig({ project: p, environment: environmentOf(p, 'staging'), host: { name: 'stage1', root: '/srv/notes-staging' } });
  return environmentOf(parseOrFail(rendered.yaml, '/srv/notes-staging/slipway.yml'), 'production');
}

describe('off-site copies of hosts driven over SSH', () => {
  test('an S3 store and a backup key: the host keeps its local folder store for releases and sends its off-site copies to the S3 store', () => {
    const p = project([`store: ${S3_STORE}`, 'backup_key_env: PROD_BACKUP_KEY']);
    const { env, yaml } = productionHost(p);
    assert.deepEqual(env.store, { type: 'local', path: '/srv/notes/store' }, 'releases still come over SSH into a folder of the host');
    assert.equal(offsiteEnabled(env), true);
    assert.deepEqual(env.offsiteStore, environmentOf(p, 'production').store);
    assert.deepEqual(offsiteStoreConfig(env), { type: 's3', bucket: 'notes-store', region: 'eu-west-1', endpoint: 'https://s3.example.com', prefix: 'notes/', forcePathStyle: true });
    assert.equal(env.backupKeyEnv, 'PROD_BACKUP_KEY', 'the key by the name of its variable');
    // Staging's host reads production's copies from the very place production's host writes them.
    assert.deepEqual(offsiteStoreConfig(stagingReadsFrom(p)), offsiteStoreConfig(env));
    assert.match(yaml, /offsite_store:/);
  });

  test('offsite_store of the project (a folder store for releases, S3 for backups) reaches the host and the staging host alike', () => {
    const p = project(['store: { type: local, path: ./releases }', `offsite_store: ${S3_STORE}`, 'backup_key_env: PROD_BACKUP_KEY']);
    const { env } = productionHost(p);
    assert.equal(env.offsiteBackups, true);
    assert.deepEqual(env.offsiteStore, environmentOf(p, 'production').offsiteStore);
    assert.deepEqual(offsiteStoreConfig(stagingReadsFrom(p)), env.offsiteStore);
  });

  test('off-site copies stay off when the environment turns them off, has no backup key, or its store is a folder of the operator\'s machine', () => {
    const cases: [string, string[]][] = [
      ['offsite_backups: false', [`store: ${S3_STORE}`, 'backup_key_env: PROD_BACKUP_KEY', 'offsite_backups: false']],
      ['no backup key', [`store: ${S3_STORE}`]],
      ['a folder store', ['store: { type: local, path: ./store }', 'backup_key_env: PROD_BACKUP_KEY']],
      ['the default store', ['backup_key_env: PROD_BACKUP_KEY']],
    ];
    for (const [why, settings] of cases) {
      const { env, yaml } = productionHost(project(settings));
      assert.equal(env.offsiteBackups, false, why);
      assert.equal(offsiteEnabled(env), false, why);
      assert.equal(env.offsiteStore, undefined, why);
      assert.doesNotMatch(yaml, /offsite_store/, why);
      assert.deepEqual(env.store, { type: 'local', path: '/srv/notes/store' }, why);
    }
  });

  test('no secret value reaches the file: credentials and the key stay in the host agent\'s environment', () => {
    const secrets = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID0001', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', PROD_BACKUP_KEY: 'q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c=' };
    const saved = { ...process.env };
    Object.assign(process.env, secrets);
    try {
      const p = project([`store: ${S3_STORE}`, 'backup_key_env: PROD_BACKUP_KEY']);
      const staging = renderRemoteHostConfig({ project: p, environment: environmentOf(p, 'staging'), host: { name: 'stage1', root: '/srv/notes-staging' } });
      for (const yaml of [productionHost(p).yaml, staging.yaml]) {
        for (const [name, value] of Object.entries(secrets)) assert.ok(!yaml.includes(value), `the value of ${name} is not in the host's file`);
        assert.doesNotMatch(yaml, /AWS_|secret|access_key|credential/i);
      }
    } finally {
      for (const name of Object.keys(secrets)) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  test('the schema: offsite_store takes the store mapping, and needs a backup key', () => {
    const bad = parseProjectText(
      `app: notes\nservices:\n  web: { command: npm start }\nenvironments:\n  production:\n    port: 8080\n    offsite_store: ${S3_STORE}\n`,
      'slipway.yml',
    );
    assert.ok(bad.problems.some((problem) => /offsite_store/.test(JSON.stringify(problem)) && /backup_key_env/.test(JSON.stringify(problem))), JSON.stringify(bad.problems));
    const noBucket = parseProjectText('app: notes\nservices:\n  web: { command: npm start }\nenvironments:\n  production:\n    port: 8080\n    backup_key_env: K\n    offsite_store: { type: s3 }\n', 'slipway.yml');
    assert.ok(noBucket.problems.some((problem) => /bucket/.test(JSON.stringify(problem))), JSON.stringify(noBucket.problems));
    const without = parseOrFail('app: notes\nservices:\n  web: { command: npm start }\nenvironments:\n  production:\n    port: 8080\n');
    assert.equal(environmentOf(without, 'production').offsiteStore, undefined);
  });
});
