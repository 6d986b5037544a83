/**
 * A release's container image onto a host, from the store, with a real Docker engine:
 * the fetch step loads an image the engine lacks and the loaded id is the manifest's;
 * a release whose image differs from the previous one in one layer fetches that layer
 * only; a tampered layer in the store is refused and nothing is loaded; an image the
 * engine and the store both lack is refused before anything changes; pruning a
 * release removes its image unless a kept release runs it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { installReleaseImages } from '../../src/host/install-image.js';
import { isReleaseInstalled } from '../../src/host/install-release.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { pruneReleaseImages } from '../../src/host/prune-images.js';
import type { BuiltRelease } from '../../src/release/build.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex, packKey } from '../../src/store/objects.js';
import type { UpdateContext } from '../../src/update/context.js';
import { fetchStep } from '../../src/update/steps/fetch.js';
import { dockerUnavailableReason, importRoot, minimalRoot, requireDocker } from '../helpers/docker.js';
import { expectRejects } from '../helpers/expect-error.js';
import { buildAndStore, engineImageIds, inspectImage, makeImageRepo, removeImage, removeImagesOf } from '../helpers/image-repo.js';
import { listTree, removeTree, tempDir } from '../helpers/cli.js';

const APP = 'imghost';
const scratch = tempDir({ after }, 'slipway-install-image-');
/** pristine stores, copied for each test: v1 and v2 with their images; v1 without its image */
const stores = { full: path.join(scratch, 'store-full'), noImages: path.join(scratch, 'store-no-images') };
let v1: BuiltRelease;
let v2: BuiltRelease;
const LAYER_BYTES = 1024 * 1024;

before(async () => {
  if (dockerUnavailableReason() !== null) return;
  // v1 and v2 differ in one layer: the blob copied on top of the base (random, so it does not compress).
  const repo = makeImageRepo({ after } as unknown as TestContext, APP, 'console.log("app");\n', {
    dockerfile: 'FROM slipway-test/node-base:1\nCOPY app.js /app/app.js\nCOPY blob.bin /app/blob.bin\n',
    files: { 'blob.bin': randomBytes(LAYER_BYTES) },
  });
  const full = createLocalStore(stores.full);
  v1 = await buildAndStore({ project: repo.containerProject(), store: full, outDir: path.join(scratch, 'out-v1') });
  await buildAndStore({ project: repo.containerProject(), store: createLocalStore(stores.noImages), outDir: path.join(scratch, 'out-v1-bare'), images: false });
  repo.write('blob.bin', randomBytes(LAYER_BYTES));
  repo.commit('v2');
  v2 = await buildAndStore({ project: repo.containerProject(), store: full, outDir: path.join(scratch, 'out-v2'), version: 'v2' });
});
after(() => {
  if (dockerUnavailableReason() === null) removeImagesOf(APP);
});

const imageOf = (built: BuiltRelease) => built.manifest.runtime.services[0]!.image!;

interface Host {
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  storeDir: string;
  fetch(release: BuiltRelease): ReturnType<typeof fetchStep.run>;
}

/** A fresh host and a private copy of one of the pristine stores. */
async function host(t: TestContext, storeName: keyof typeof stores): Promise<Host> {
  const root = fs.mkdtempSync(path.join(scratch, 'host-'));
  t.after(() => removeTree(root));
  const storeDir = path.join(root, 'store');
  fs.cpSync(stores[storeName], storeDir, { recursive: true });
  const layout = hostLayout(path.join(root, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  const store = createLocalStore(storeDir);
  // The fetch step reads these parts of an update's context.
  const fetch = (release: BuiltRelease) =>
    fetchStep.run({ layout, ledger, store, app: APP, to: { id: release.id }, signatures: { required: false, publicKeysPem: [] } } as unknown as UpdateContext);
  return { layout, ledger, store, storeDir, fetch };
}

/** Puts the release's image back into the engine (from the pristine store) when a test before took it away. */
async function ensureInEngine(release: BuiltRelease): Promise<void> {
  if (inspectImage(imageOf(release).id)) return;
  await installReleaseImages({ store: createLocalStore(stores.full), app: APP, releaseId: release.id, manifest: release.manifest });
}

test('install image: the fetch step loads an image the engine lacks from the store, and the engine then holds the manifest\'s id', async (t) => {
  if (!requireDocker(t)) return;
  const h = await host(t, 'full');
  const image = imageOf(v1);
  removeImage(image.id);
  assert.equal(inspectImage(image.id), null);

  // v2 (built from the same base and app.js) is in the engine: only v1's top layer is missing.
  await ensureInEngine(v2);
  const result = await h.fetch(v1);
  assert.match(result?.detail ?? '', /file\(s\) verified; .*; image of web loaded: 1 of 3 layer\(s\) fetched \([\d.]+ (KiB|MiB)\)/);
  const loaded = inspectImage(image.id);
  assert.ok(loaded, 'the engine holds the image');
  assert.equal(loaded.Id, image.id);
  assert.ok(loaded.RepoTags.includes(`slipway/${APP}:${v1.id}`), `tags: ${loaded.RepoTags.join(', ')}`);
  // what runs from it is what the release built
  const run = spawnSync('docker', ['run', '--rm', '--network', 'none', image.id, '/usr/bin/node', '-e', 'process.stdout.write(require("fs").readFileSync("/app/app.js","utf8"))'], { encoding: 'utf8' });
  assert.equal(run.stdout, 'console.log("app");\n', run.stderr);

  // What `slipway plan` says the step will do names the image.
  const planned = fetchStep.describe({ input: { target: { ...v1.manifest, id: v1.id } } } as unknown as Parameters<typeof fetchStep.describe>[0]);
  assert.match(planned.what ?? '', /; the image of web \(3 layers, [\d.]+ MiB\) unless the engine has it/);

  // Fetched again (already on this host): the engine has it, nothing is fetched.
  const again = await h.fetch(v1);
  assert.equal(again?.detail, 'already on this host; image of web already in the engine');
});

test('install image: a release whose image differs from the previous one in one layer fetches only that layer', async (t) => {
  if (!requireDocker(t)) return;
  const h = await host(t, 'full');
  await ensureInEngine(v1);
  const previous = imageOf(v1);
  const image = imageOf(v2);
  assert.deepEqual(image.layers.slice(0, -1), previous.layers.slice(0, -1), 'v2 shares all but its top layer with v1');
  removeImage(image.id);

  const [installed] = await installReleaseImages({ store: h.store, app: APP, releaseId: v2.id, manifest: v2.manifest });
  assert.equal(inspectImage(image.id)?.Id, image.id);
  const changed = image.layers.at(-1)!;
  const whole = image.layers.reduce((sum, layer) => sum + layer.size, 0);
  assert.equal(installed!.how, 'loaded');
  assert.equal(installed!.fetchedLayers, 1);
  assert.equal(installed!.layerBytes, changed.size);
  // the changed layer (1 MiB of random bytes, stored as they are) and the config: about that layer's size
  assert.ok(installed!.fetchedBytes >= changed.size && installed!.fetchedBytes < changed.size + 16 * 1024, `fetched ${installed!.fetchedBytes} bytes for a layer of ${changed.size}`);
  assert.ok(whole > 50 * installed!.fetchedBytes, `the whole image is ${whole} bytes`);
});

test('install image: a tampered layer in the store is refused, nothing is loaded and the release is not left installed', async (t) => {
  if (!requireDocker(t)) return;
  const h = await host(t, 'full');
  await ensureInEngine(v1);
  const image = imageOf(v2);
  removeImage(image.id);
  // One byte of v2's top layer changed in its pack, where the store keeps it.
  const top = image.layers.at(-1)!;
  const location = (await loadObjectIndex(h.store, APP)).get(top.sha256)!;
  const packFile = path.join(h.storeDir, ...packKey(APP, location.pack).split('/'));
  const bytes = fs.readFileSync(packFile);
  bytes[location.offset + Math.floor(location.length / 2)]! ^= 0xff;
  fs.writeFileSync(packFile, bytes);
  const imagesBefore = engineImageIds(APP);

  await expectRejects(() => h.fetch(v2), 'IMAGE_REJECTED', {
    message: new RegExp(`the image of service web \\(${image.id.slice(0, 19)}\\) read from the store was refused: content ${top.sha256.slice(0, 12)} read from the store does not match its digest.*nothing was loaded`),
    hint: /damaged or tampered/,
  });
  assert.equal(inspectImage(image.id), null, 'the image was not loaded');
  assert.deepEqual(engineImageIds(APP), imagesBefore, 'the engine holds the same images as before');
  assert.equal(await isReleaseInstalled(h.layout, v2.id), false, 'the release was taken back');
  assert.equal(h.ledger.getRelease(v2.id), null);
  assert.deepEqual(listTree(h.layout.releasesDir), []);
});

test('install image: a release whose image is neither in the engine nor in the store is refused before anything changes', async (t) => {
  if (!requireDocker(t)) return;
  const h = await host(t, 'noImages');
  const image = imageOf(v1);
  removeImage(image.id);
  const imagesBefore = engineImageIds(APP);

  await expectRejects(() => h.fetch(v1), 'IMAGE_NOT_AVAILABLE', {
    message: new RegExp(`service web runs image ${image.id.slice(0, 19)} \\(Dockerfile\\), which neither the Docker engine on this host nor the store .* has: the store lacks its config, (layer [0-9a-f]{12}, )*layer ${image.layers.at(-1)!.sha256.slice(0, 12)}; refused, nothing was changed`),
    hint: /build and publish this release again .* or `docker load` that image on this host/,
  });
  assert.deepEqual(engineImageIds(APP), imagesBefore, 'the engine holds the same images as before');
  assert.equal(await isReleaseInstalled(h.layout, v1.id), false);
  assert.equal(h.ledger.getRelease(v1.id), null);
  assert.deepEqual(listTree(h.layout.releasesDir), []);
  assert.deepEqual(listTree(h.layout.objectsDir).filter((p) => !p.endsWith('/')), [], 'the release\'s file contents were taken back');
});

test('install image: pruning a release removes its image unless a kept release runs it', async (t) => {
  if (!requireDocker(t)) return;
  await ensureInEngine(v1);
  await ensureInEngine(v2);
  const base = inspectImage('slipway-test/node-base:1')!.Id;

  const keptByV2 = await pruneReleaseImages({ removed: [v2.manifest], kept: async () => [v2.manifest] });
  assert.deepEqual(keptByV2.removed, []);
  assert.equal(inspectImage(imageOf(v2).id)?.Id, imageOf(v2).id, 'a kept release runs it: still there');

  const pruned = await pruneReleaseImages({ removed: [v1.manifest], kept: async () => [v2.manifest] });
  assert.deepEqual(pruned.removed, [imageOf(v1).id]);
  assert.equal(inspectImage(imageOf(v1).id), null, 'v1\'s image is gone');
  assert.equal(inspectImage(imageOf(v2).id)?.Id, imageOf(v2).id, 'v2\'s image (sharing the base) stays');
  assert.equal(inspectImage('slipway-test/node-base:1')?.Id, base, 'the base image stays');
});

test('install image: with none of its layers in the engine, the whole image comes from the store and runs', async (t) => {
  if (!requireDocker(t)) return;
  // A base of its own (sh and its libraries), so that the engine can be left with no layer of the image.
  const base = `slipway-test/${APP}-base:${Date.now()}`;
  const root = minimalRoot([]);
  try {
    importRoot(root, base, ['WORKDIR /app']);
  } finally {
    removeTree(root);
  }
  t.after(() => removeImage(base));
  const repo = makeImageRepo(t, APP, 'from the store\n', { dockerfile: `FROM ${base}\nCOPY app.js /app/app.js\n` });
  const store = createLocalStore(path.join(repo.scratch, 'store'));
  const built = await buildAndStore({ project: repo.containerProject(), store, outDir: path.join(repo.scratch, 'out'), version: 'whole' });
  const image = imageOf(built);
  removeImage(image.id);
  removeImage(base);
  assert.equal(inspectImage(base), null);

  const [installed] = await installReleaseImages({ store, app: APP, releaseId: built.id, manifest: built.manifest });
  assert.equal(installed!.fetchedLayers, image.layers.length);
  assert.equal(installed!.layerBytes, image.layers.reduce((sum, layer) => sum + layer.size, 0));
  assert.equal(inspectImage(image.id)?.Id, image.id);
  const run = spawnSync('docker', ['run', '--rm', '--network', 'none', image.id, '/bin/sh', '-c', 'read line < /app/app.js; echo "$line"'], { encoding: 'utf8' });
  assert.equal(run.stdout, 'from the store\n', run.stderr);
});
