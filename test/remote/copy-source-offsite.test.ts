/**
 * Where a scheduled data copy looks for a source on another server: its off-site store
 * (`offsite_store`, else its store), the place that source's hosts write their copies to.
 * When that is a folder, which hosts on servers cannot reach, the copy that finds nothing
 * says why and what to change.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { copySourceFor } from '../../src/agent/copy-source.js';
import { parseProjectText } from '../../src/config/load.js';
import type { EnvironmentConfig, ProjectConfig } from '../../src/config/types.js';
import { copyBackupOffsite } from '../../src/data/offsite-copy.js';
import { hostLayout } from '../../src/host/layout.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { tempDir } from '../data/fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';
import { APP, ENVIRONMENT, hostWithBackup, newKey } from '../offsite/fixture.js';

function parseOrFail(text: string): ProjectConfig {
  const parsed = parseProjectText(text, 'slipway.yml');
  assert.deepEqual(parsed.problems, [], text);
  return parsed.config!;
}

const environmentOf = (project: ProjectConfig, name: string): EnvironmentConfig => project.environments.find((e) => e.name === name)!;

/** production on another server with the store settings given; staging on this machine. */
function project(storeLines: string[]): ProjectConfig {
  return parseOrFail(`
app: ${APP}
services:
  web: { command: npm start }
environments:
  ${ENVIRONMENT}:
    host: ssh://deploy@app1.example.com
    port: 8080
    backup_key_env: PROD_BACKUP_KEY
${storeLines.map((line) => `    ${line}`).join('\n')}
  staging:
    port: 8081
`);
}

test("a source with offsite_store: the copy is read from there, not from its store", async (t) => {
  const projectDir = tempDir(t, 'slipway-project-');
  const production = await hostWithBackup(t);
  const { key, text } = newKey();
  // production's host sent its backup to the off-site store; its release store holds none.
  await copyBackupOffsite({ ...production, store: createLocalStore(path.join(projectDir, 'offsite')), app: APP, environment: ENVIRONMENT, backupId: production.backup.id, key });
  const p = project(['store: { type: local, path: ./releases }', 'offsite_store: { type: local, path: ./offsite }']);
  const staging = hostLayout(tempDir(t, 'slipway-staging-'));
  const source = copySourceFor({ app: APP, projectDir, source: environmentOf(p, ENVIRONMENT), target: environmentOf(p, 'staging'), layout: staging, processEnv: { PROD_BACKUP_KEY: text } });
  const found = await source.newestVerified();
  assert.equal(found.id, production.backup.id);
  assert.equal(found.dir, path.join(staging.root, 'data-copies', ENVIRONMENT, 'backups', production.backup.id));

  // Without offsite_store the same project reads its store, which holds nothing.
  const plain = project(['store: { type: local, path: ./releases }']);
  await expectRejects(
    copySourceFor({ app: APP, projectDir, source: environmentOf(plain, ENVIRONMENT), target: environmentOf(plain, 'staging'), layout: staging, processEnv: { PROD_BACKUP_KEY: text } }).newestVerified(),
    'NO_VERIFIED_BACKUP',
  );
});

test("a source on another server whose store is a folder: the copy finds nothing and says that its hosts cannot reach that folder", async (t) => {
  const projectDir = tempDir(t, 'slipway-project-');
  const p = project(['store: { type: local, path: ./store }']);
  const staging = hostLayout(tempDir(t, 'slipway-staging-'));
  const source = copySourceFor({ app: APP, projectDir, source: environmentOf(p, ENVIRONMENT), target: environmentOf(p, 'staging'), layout: staging, processEnv: {} });
  await expectRejects(source.newestVerified(), 'NO_VERIFIED_BACKUP', {
    message: /production has no verified backup in .*store/,
    hint: /its store is a folder \(\.\/store\).*hosts cannot reach it.*S3 store.*backup_key_env.*slipway setup production.*slipway setup staging/,
  });
});
