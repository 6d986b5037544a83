/**
 * Container images through an environment's registry, with a real Docker engine and a real
 * registry (Debian's docker-registry on a loopback port): publish pushes the release's image
 * and records its digest; a host whose engine lacks it pulls it by digest and holds the id the
 * manifest pins; another image pushed under the release's tag changes nothing (the pull is by
 * digest); a registry that is down, or a digest naming other bytes, refuses the release before
 * anything changes; the credentials never show in messages or in the registry's log.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { EnvironmentConfig } from '../../src/config/types.js';
import { installReleaseImages } from '../../src/host/install-image.js';
import type { BuiltRelease } from '../../src/release/build.js';
import { registryRepository, type RegistryConfig } from '../../src/container/registry.js';
import { publishReleaseImages } from '../../src/host/push-images.js';
import { readRegistryRecord } from '../../src/store/registry-records.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { dockerUnavailableReason, NODE_BASE_IMAGE, requireDocker } from '../helpers/docker.js';
import { requireRegistry, startTestRegistry, TEST_REGISTRY_PASSWORD, TEST_REGISTRY_USER, type TestRegistry } from '../helpers/docker-registry.js';
import { expectRejects } from '../helpers/expect-error.js';
import { buildAndStore, inspectImage, makeImageRepo, removeImage, removeImagesOf } from '../helpers/image-repo.js';
import { tempDir } from '../helpers/temp-dir.js';

const APP = 'regimg';
const scratch = tempDir({ after }, 'slipway-registry-images-');
const storeDir = path.join(scratch, 'store');
const store = createLocalStore(storeDir);
let v1: BuiltRelease;

before(async () => {
  if (dockerUnavailableReason() !== null) return;
  const repo = makeImageRepo({ after } as unknown as TestContext, APP, 'console.log("from the registry");\n');
  v1 = await buildAndStore({ project: repo.containerProject(), store, outDir: path.join(scratch, 'out-v1') });
});
after(() => {
  if (dockerUnavailableReason() === null) removeImagesOf(APP);
});

const imageOf = (built: BuiltRelease) => built.manifest.runtime.services[0]!.image!;
const CREDENTIALS = { REG_USER: TEST_REGISTRY_USER, REG_PASSWORD: TEST_REGISTRY_PASSWORD };

/**
 * What the engine holds of this test's images: the release's image (null when absent) and the
 * references of the base image. Not the engine's whole list: other tests share the engine.
 */
function engineState(): { release: string | null; base: string[] } {
  const refs = spawnSync('docker', ['image', 'inspect', '--format', '{{json .RepoTags}} {{json .RepoDigests}}', NODE_BASE_IMAGE], { encoding: 'utf8' }).stdout.trim();
  // Only this test's names: test files running beside it tag images that are the base image byte for byte.
  const ours = (list: string) => (JSON.parse(list) as string[] | null ?? []).filter((ref) => ref === NODE_BASE_IMAGE || ref.includes(APP));
  const [tags, digests] = refs.split(' ');
  return { release: inspectImage(imageOf(v1).id)?.Id ?? null, base: [JSON.stringify(ours(tags!)), JSON.stringify(ours(digests!))] };
}

function environmentWith(registry: RegistryConfig): EnvironmentConfig {
  return { name: 'production', registry } as EnvironmentConfig;
}

async function ready(t: TestContext, auth = false): Promise<{ registry: TestRegistry; config: RegistryConfig } | null> {
  if (!requireDocker(t) || !requireRegistry(t)) return null;
  const registry = await startTestRegistry(t, { auth });
  const config: RegistryConfig = auth ? { url: registry.url, usernameEnv: 'REG_USER', passwordEnv: 'REG_PASSWORD' } : { url: registry.url };
  return { registry, config };
}

/** The host's side: the engine without the release's image, then the release's images installed as the fetch step does. */
function hostInstall(config: RegistryConfig, env: NodeJS.ProcessEnv = CREDENTIALS) {
  return installReleaseImages({ store, app: APP, releaseId: v1.id, manifest: v1.manifest, registry: config, env });
}

test('publish pushes the image and records the digest; a host lacking it pulls it by digest, with the id the manifest pins', async (t) => {
  const setup = await ready(t, true);
  if (!setup) return;
  const lines: string[] = [];
  const record = await publishReleaseImages({ store, app: APP, releaseId: v1.id, environment: environmentWith(setup.config), env: CREDENTIALS, onProgress: (line) => lines.push(line) });
  const image = imageOf(v1);
  assert.ok(record);
  assert.equal(record.repository, `${setup.registry.url}/${APP}`);
  const digest = record.images[image.id];
  assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(await readRegistryRecord(store, APP, v1.id, registryRepository(setup.config, APP)), record);
  // The registry holds that manifest under the release id's tag.
  const answer = await fetch(`http://${setup.registry.url}/v2/${APP}/manifests/${v1.id}`, {
    method: 'HEAD',
    headers: { Authorization: `Basic ${Buffer.from(`${TEST_REGISTRY_USER}:${TEST_REGISTRY_PASSWORD}`).toString('base64')}`, Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get('docker-content-digest'), digest);
  assert.equal(inspectImage(`${setup.registry.url}/${APP}:${v1.id}`), null, 'the registry name is taken off the engine after the push');

  removeImage(image.id);
  assert.equal(inspectImage(image.id), null);
  const installed = await hostInstall(setup.config);
  assert.deepEqual(installed.map((i) => [i.id, i.how]), [[image.id, 'pulled']]);
  assert.ok(installed[0]!.fetchedLayers >= 1, `layers pulled: ${installed[0]!.fetchedLayers}`);
  assert.equal(inspectImage(`slipway/${APP}:${v1.id}`)?.Id, image.id);
  assert.equal(inspectImage(`slipway/${APP}:v1`)?.Id, image.id);
  // A second install finds it in the engine and asks no one.
  assert.deepEqual((await hostInstall(setup.config)).map((i) => i.how), ['present']);

  const everything = [...lines, setup.registry.log()].join('\n');
  assert.doesNotMatch(everything, new RegExp(TEST_REGISTRY_PASSWORD));
  assert.match(setup.registry.log(), new RegExp(TEST_REGISTRY_USER), 'the registry saw the login (so auth was on)');
});

test('with the credentials unset, or wrong, the host refuses before anything changes and shows no password', async (t) => {
  const setup = await ready(t, true);
  if (!setup) return;
  await publishReleaseImages({ store, app: APP, releaseId: v1.id, environment: environmentWith(setup.config), env: CREDENTIALS });
  removeImage(imageOf(v1).id);
  const engineBefore = engineState();
  assert.equal(engineBefore.release, null);
  await expectRejects(hostInstall(setup.config, { REG_USER: TEST_REGISTRY_USER }), 'REGISTRY_CREDENTIALS_MISSING', { message: /REG_PASSWORD/ });
  const wrong = await expectRejects(hostInstall(setup.config, { REG_USER: TEST_REGISTRY_USER, REG_PASSWORD: 'wrong-password-9c1e' }), 'REGISTRY_PULL_FAILED', { message: /nothing was changed/, hint: /credentials/ });
  assert.doesNotMatch(`${wrong.message} ${wrong.hint}`, /wrong-password-9c1e/);
  assert.deepEqual(engineState(), engineBefore);
  assert.equal(inspectImage(`slipway/${APP}:${v1.id}`), null);
});

test('another image pushed under the release\'s tag is harmless: the host pulls by digest', async (t) => {
  const setup = await ready(t);
  if (!setup) return;
  await publishReleaseImages({ store, app: APP, releaseId: v1.id, environment: environmentWith(setup.config), env: {} });
  const moved = `${setup.registry.url}/${APP}:${v1.id}`;
  for (const args of [['tag', NODE_BASE_IMAGE, moved], ['push', moved], ['rmi', moved]]) {
    const run = spawnSync('docker', args, { encoding: 'utf8' });
    assert.equal(run.status, 0, `docker ${args.join(' ')}: ${run.stderr}`);
  }
  removeImage(imageOf(v1).id);
  const installed = await hostInstall(setup.config, {});
  assert.deepEqual(installed.map((i) => [i.id, i.how]), [[imageOf(v1).id, 'pulled']]);
  assert.equal(inspectImage(`slipway/${APP}:${v1.id}`)?.Id, imageOf(v1).id);
});

test('a registry that is down refuses the release before anything changes', async (t) => {
  const setup = await ready(t);
  if (!setup) return;
  await publishReleaseImages({ store, app: APP, releaseId: v1.id, environment: environmentWith(setup.config), env: {} });
  removeImage(imageOf(v1).id);
  await setup.registry.stop();
  const engineBefore = engineState();
  assert.equal(engineBefore.release, null);
  await expectRejects(hostInstall(setup.config, {}), 'REGISTRY_PULL_FAILED', { message: new RegExp(`${setup.registry.url}.*nothing was changed`), hint: /registry answers/ });
  assert.deepEqual(engineState(), engineBefore);
  assert.equal(inspectImage(`slipway/${APP}:${v1.id}`), null);
  // Back up, the same release installs.
  await setup.registry.start();
  assert.deepEqual((await hostInstall(setup.config, {})).map((i) => i.how), ['pulled']);
});

test('a record whose digest names other bytes is refused, the image it pulled taken off again, nothing else touched', async (t) => {
  const setup = await ready(t);
  if (!setup) return;
  const record = await publishReleaseImages({ store, app: APP, releaseId: v1.id, environment: environmentWith(setup.config), env: {} });
  // The base image pushed to the same repository: a real digest, of other bytes.
  const other = `${setup.registry.url}/${APP}:other`;
  for (const args of [['tag', NODE_BASE_IMAGE, other], ['push', other], ['rmi', other]]) assert.equal(spawnSync('docker', args).status, 0, `docker ${args.join(' ')}`);
  const head = await fetch(`http://${setup.registry.url}/v2/${APP}/manifests/other`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  const otherDigest = head.headers.get('docker-content-digest')!;
  assert.match(otherDigest, /^sha256:/);
  // Each test's registry has its own port, so its own record: the one naming this repository.
  const records = fs.readdirSync(path.join(storeDir, APP, 'registry', v1.id)).map((name) => path.join(storeDir, APP, 'registry', v1.id, name));
  const recordFile = records.find((file) => (JSON.parse(fs.readFileSync(file, 'utf8')) as { repository: string }).repository === record!.repository)!;
  assert.ok(recordFile, `a record for ${record!.repository} among ${records.join(', ')}`);
  fs.writeFileSync(recordFile, JSON.stringify({ ...record, images: { [imageOf(v1).id]: otherDigest } }));
  t.after(() => fs.writeFileSync(recordFile, JSON.stringify(record)));

  removeImage(imageOf(v1).id);
  const engineBefore = engineState();
  assert.equal(engineBefore.release, null);
  await expectRejects(hostInstall(setup.config, {}), 'REGISTRY_IMAGE_MISMATCH', { message: /not sha256:.*nothing was changed/ });
  assert.deepEqual(engineState(), engineBefore);
  assert.ok(inspectImage(NODE_BASE_IMAGE), 'the image held under another name is still there');
  assert.equal(inspectImage(`slipway/${APP}:${v1.id}`), null);
});

test('a release never pushed to the registry still comes from the store', async (t) => {
  const setup = await ready(t);
  if (!setup) return;
  removeImage(imageOf(v1).id);
  const installed = await hostInstall({ url: setup.registry.url }, {});
  assert.deepEqual(installed.map((i) => [i.id, i.how]), [[imageOf(v1).id, 'loaded']]);
});
