/**
 * `slipway publish <env>` for an environment whose slipway.yml names a registry (behind basic
 * auth, credentials in the variables it names): the CLI builds, stores and pushes, and the
 * record it leaves lets a host pull the image by digest. The password shows nowhere.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { installReleaseImages } from '../../src/host/install-image.js';
import { readRegistryRecord } from '../../src/store/registry-records.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { readReleaseManifest } from '../../src/store/releases.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { dockerUnavailableReason, requireDocker } from '../helpers/docker.js';
import { requireRegistry, startTestRegistry, TEST_REGISTRY_PASSWORD, TEST_REGISTRY_USER } from '../helpers/docker-registry.js';
import { inspectImage, makeImageRepo, removeImage, removeImagesOf } from '../helpers/image-repo.js';

const APP = 'regpub';
after(() => {
  if (dockerUnavailableReason() === null) removeImagesOf(APP);
});

test('publish pushes the images of an environment with a registry; a host pulls them by digest', { timeout: 180_000 }, async (t) => {
  if (!requireDocker(t) || !requireRegistry(t)) return;
  const registry = await startTestRegistry(t, { auth: true });
  const repo = makeImageRepo(t, APP, 'console.log("published");\n');
  const storeDir = path.join(repo.scratch, 'store');
  repo.write(
    'slipway.yml',
    `app: ${APP}\nservices:\n  web:\n    build: .\nenvironments:\n  production:\n    port: 18080\n    store: { type: local, path: ${storeDir} }\n    registry: { url: ${registry.url}, username_env: REG_USER, password_env: REG_PASSWORD }\n`,
  );
  repo.commit('registry');
  const home = tempDir(t, 'slipway-home-');
  const env = { REG_USER: TEST_REGISTRY_USER, REG_PASSWORD: TEST_REGISTRY_PASSWORD };

  const withoutPassword = await runCli(['publish', 'production'], { cwd: repo.dir, home, env: { REG_USER: TEST_REGISTRY_USER }, timeoutMs: 150_000 });
  assert.equal(withoutPassword.code, 2, `${withoutPassword.stdout}\n${withoutPassword.stderr}`);
  assert.match(withoutPassword.stderr, /REG_PASSWORD.*not set/);

  const published = await runCli(['publish', 'production', '--json'], { cwd: repo.dir, home, env, timeoutMs: 150_000 });
  assert.equal(published.code, 0, `${published.stdout}\n${published.stderr}`);
  const { id } = JSON.parse(published.stdout) as { id: string };
  assert.match(published.stderr, new RegExp(`pushing the image of web to ${registry.url}/${APP}:${id}`));
  assert.doesNotMatch(`${withoutPassword.stderr}${published.stdout}${published.stderr}${registry.log()}`, new RegExp(TEST_REGISTRY_PASSWORD));

  const store = createLocalStore(storeDir);
  const manifest = await readReleaseManifest(store, APP, id);
  const image = manifest.runtime.services[0]!.image!;
  const record = await readRegistryRecord(store, APP, id, `${registry.url}/${APP}`);
  assert.match(record?.images[image.id] ?? '', /^sha256:[0-9a-f]{64}$/);

  removeImage(image.id);
  const installed = await installReleaseImages({ store, app: APP, releaseId: id, manifest, registry: { url: registry.url, usernameEnv: 'REG_USER', passwordEnv: 'REG_PASSWORD' }, env });
  assert.deepEqual(installed.map((i) => [i.id, i.how]), [[image.id, 'pulled']]);
  assert.equal(inspectImage(`slipway/${APP}:${id}`)?.Id, image.id);
});
