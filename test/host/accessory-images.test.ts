/**
 * Accessories' images travel through the store, with a real Docker engine: a build pins the
 * image of each accessory the engine holds (and puts its objects into the store), leaves out
 * with one line one it lacks; a host whose engine lacks it gets it back from the store, named
 * by its reference and not started; a reference naming another image on the host is left
 * alone; pruning keeps an image a kept release carries for an accessory, or an accessory's
 * container uses; the store keeps a kept release's accessory objects.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { describeImages } from '../../src/cli/build.js';
import type { AccessoryConfig, LoadedProject } from '../../src/config/types.js';
import { installReleaseImages } from '../../src/host/install-image.js';
import { pruneReleaseImages } from '../../src/host/prune-images.js';
import { buildRelease, type BuiltRelease } from '../../src/release/build.js';
import { parseManifest, type ReleaseManifest } from '../../src/release/manifest.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { releaseImageObjects } from '../../src/store/image-objects.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { readCheckedReleaseManifest } from '../../src/store/releases.js';
import { pruneStore } from '../../src/store/store-maintenance.js';
import { dockerUnavailableReason, ensureNodeBaseImage, requireDocker } from '../helpers/docker.js';
import { buildAndStore, inspectImage, makeImageRepo, removeImage, removeImagesOf, type ImageRepo } from '../helpers/image-repo.js';
import { removeTree, tempDir } from '../helpers/cli.js';

const APP = 'accimg';
/** this file's own accessory image names: no other test uses them */
const DB_REF = `slipway-test/${APP}-db:1`;
const OTHER_REF = `slipway-test/${APP}-other:1`;
const ABSENT_REF = `slipway-test/${APP}-absent:1`;
const scratch = tempDir({ after }, 'slipway-accessory-images-');
const cleanups: Array<() => void> = [];

function accessory(name: string, image: string): AccessoryConfig {
  return { name, image, volumes: [], env: {}, secrets: [] };
}

/** An image FROM the node base with one file of random bytes (so a layer, and an id, of its own), labelled with the app. */
function buildImage(tag: string): string {
  ensureNodeBaseImage();
  const dir = fs.mkdtempSync(path.join(scratch, 'image-'));
  fs.writeFileSync(path.join(dir, 'marker'), randomBytes(4096));
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM slipway-test/node-base:1\nCOPY marker /marker\nCMD ["/usr/bin/node", "-e", "setInterval(() => {}, 1000)"]\n');
  const built = spawnSync('docker', ['build', '-q', '--label', `dev.slipway.app=${APP}`, '-t', tag, dir], { encoding: 'utf8', env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  assert.equal(built.status, 0, built.stderr);
  return inspectImage(tag)!.Id;
}

/** Containers (any state) made from an image. */
function containersOf(id: string): string[] {
  return spawnSync('docker', ['ps', '-aq', '--filter', `ancestor=${id}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
}

let repo: ImageRepo;
let storeDir: string;
let v1: BuiltRelease;
let dbId: string;

before(async () => {
  if (dockerUnavailableReason() !== null) return;
  removeImagesOf(APP);
  dbId = buildImage(DB_REF);
  // The repository lives as long as the file's tests (a hook's own `after` would take it away when the hook ends).
  repo = makeImageRepo({ after: (fn: () => void) => cleanups.push(fn) } as unknown as TestContext, APP);
  storeDir = path.join(scratch, 'store');
  v1 = await buildAndStore({ project: withAccessories(repo, [accessory('db', DB_REF)]), store: createLocalStore(storeDir), outDir: path.join(scratch, 'out-v1') });
});
after(() => {
  for (const cleanup of cleanups) cleanup();
  if (dockerUnavailableReason() === null) removeImagesOf(APP);
});

function withAccessories(r: ImageRepo, accessories: AccessoryConfig[]): LoadedProject {
  const project = r.containerProject();
  return { ...project, config: { ...project.config, accessories } };
}

/** A private copy of the store the build filled. */
function storeCopy(t: TestContext) {
  const dir = fs.mkdtempSync(path.join(scratch, 'store-copy-'));
  t.after(() => removeTree(dir));
  fs.cpSync(storeDir, dir, { recursive: true });
  return createLocalStore(dir);
}

/** The accessory's image back in the engine, named DB_REF, for a test that needs it there. */
async function restoreDb(t: TestContext): Promise<void> {
  if (inspectImage(DB_REF)?.Id === dbId) return;
  spawnSync('docker', ['rmi', DB_REF], { stdio: 'ignore' });
  await installReleaseImages({ store: storeCopy(t), app: APP, releaseId: v1.id, manifest: v1.manifest });
  assert.equal(inspectImage(DB_REF)?.Id, dbId);
}

test('accessory images: a build pins the accessory\'s image in the manifest and puts its objects into the store', async (t) => {
  if (!requireDocker(t)) return;
  const pinned = v1.manifest.runtime.accessoryImages;
  const engineLayers = (JSON.parse(spawnSync('docker', ['image', 'inspect', dbId], { encoding: 'utf8' }).stdout) as Array<{ RootFS: { Layers: string[] } }>)[0]!.RootFS.Layers;
  assert.deepEqual(pinned?.map((image) => ({ ...image, layers: image.layers.map((layer) => `sha256:${layer.sha256}`) })), [{ name: 'db', reference: DB_REF, id: dbId, layers: engineLayers }]);
  // The release id and signature cover it: the stored manifest is what was built, and it parses.
  const { manifest: stored } = await readCheckedReleaseManifest(createLocalStore(storeDir), APP, v1.id);
  assert.deepEqual(stored.runtime.accessoryImages, pinned);
  const index = await loadObjectIndex(createLocalStore(storeDir), APP);
  const objects = releaseImageObjects(v1.manifest).map((object) => object.sha256);
  assert.ok(objects.includes(dbId.slice('sha256:'.length)), 'the accessory image\'s config is one of the release\'s image objects');
  for (const layer of pinned![0]!.layers) assert.ok(objects.includes(layer.sha256));
  for (const digest of objects) assert.ok(index.has(digest), `${digest.slice(0, 12)} is in the store`);
  // The build's output names it.
  const lines = describeImages(v1, { addedObjects: 0, addedBytes: 0, storedBytes: 0 });
  assert.ok(lines.some((line) => line.startsWith(`  image    accessory db ${dbId.slice(0, 19)} (${engineLayers.length} layer(s), `) && line.endsWith(`from ${DB_REF}`)), lines.join('\n'));
  // A manifest from before the field still parses, and has none.
  const old = { ...v1.manifest, runtime: { ...v1.manifest.runtime } };
  delete old.runtime.accessoryImages;
  assert.equal(parseManifest(JSON.stringify(old)).runtime.accessoryImages, undefined);
});

test('accessory images: a host whose engine lacks it gets it from the store, named by its reference, not started', async (t) => {
  if (!requireDocker(t)) return;
  removeImage(dbId);
  assert.equal(inspectImage(DB_REF), null);
  const installed = await installReleaseImages({ store: storeCopy(t), app: APP, releaseId: v1.id, manifest: v1.manifest });
  const db = installed.find((image) => image.accessory !== undefined);
  assert.deepEqual(db && { id: db.id, how: db.how, services: db.services, accessory: db.accessory, fetchedLayers: db.fetchedLayers }, {
    id: dbId,
    how: 'loaded',
    services: [],
    accessory: { name: 'db', reference: DB_REF, tag: 'tagged' },
    // the node base's layers are in the engine: only the accessory's own layer came from the store
    fetchedLayers: 1,
  });
  const loaded = inspectImage(DB_REF);
  assert.equal(loaded?.Id, dbId);
  assert.deepEqual(loaded.RepoTags, [DB_REF], 'named by its reference only: slipway\'s names are its services\'');
  assert.deepEqual(containersOf(dbId), [], 'no container was made from it');
  // Installed again: present and named already; nothing fetched.
  const again = (await installReleaseImages({ store: storeCopy(t), app: APP, releaseId: v1.id, manifest: v1.manifest })).find((image) => image.accessory);
  assert.deepEqual(again && { how: again.how, tag: again.accessory!.tag, fetchedBytes: again.fetchedBytes }, { how: 'present', tag: 'already', fetchedBytes: 0 });
});

test('accessory images: a reference that names another image on the host is left alone, and the release\'s image is not loaded', async (t) => {
  if (!requireDocker(t)) return;
  await restoreDb(t);
  const otherId = buildImage(OTHER_REF);
  t.after(async () => {
    spawnSync('docker', ['rmi', '-f', otherId], { stdio: 'ignore' });
    await restoreDb(t);
  });
  // The release's image is there (under another name), but the reference names another image: nothing moves.
  assert.equal(spawnSync('docker', ['tag', dbId, `${OTHER_REF}-keep`]).status, 0);
  spawnSync('docker', ['rmi', DB_REF], { stdio: 'ignore' });
  assert.equal(spawnSync('docker', ['tag', OTHER_REF, DB_REF]).status, 0);
  const present = (await installReleaseImages({ store: storeCopy(t), app: APP, releaseId: v1.id, manifest: v1.manifest })).find((image) => image.accessory);
  assert.deepEqual(present && { how: present.how, accessory: present.accessory }, { how: 'present', accessory: { name: 'db', reference: DB_REF, tag: 'taken', otherId } });
  assert.equal(inspectImage(DB_REF)?.Id, otherId, 'the reference still names the other image');

  // The release's image gone from the engine: it is not loaded, since nothing would name it.
  removeImage(dbId);
  const skipped = (await installReleaseImages({ store: storeCopy(t), app: APP, releaseId: v1.id, manifest: v1.manifest })).find((image) => image.accessory);
  assert.deepEqual(skipped && { how: skipped.how, fetchedBytes: skipped.fetchedBytes, accessory: skipped.accessory }, { how: 'skipped', fetchedBytes: 0, accessory: { name: 'db', reference: DB_REF, tag: 'taken', otherId } });
  assert.equal(inspectImage(dbId), null, 'the release\'s image was not loaded');
  assert.equal(inspectImage(DB_REF)?.Id, otherId);
  spawnSync('docker', ['rmi', DB_REF], { stdio: 'ignore' });
});

test('accessory images: one the build machine lacks is left out with one line; a process app with accessories carries the images it can', async (t) => {
  if (!requireDocker(t)) return;
  await restoreDb(t);
  assert.equal(inspectImage(ABSENT_REF), null);
  const output: string[] = [];
  const project = repo.project({ app: APP, services: [], accessories: [accessory('db', DB_REF), accessory('cache', ABSENT_REF), accessory('queue', `${ABSENT_REF}@sha256:${'a'.repeat(64)}`)] });
  const built = await buildRelease({ project, outDir: path.join(scratch, 'out-process'), onOutput: (line) => output.push(line) });
  assert.deepEqual(built.manifest.runtime.accessoryImages?.map((image) => [image.name, image.id]), [['db', dbId]]);
  assert.deepEqual(output.filter((line) => line.startsWith('accessory ')), [
    `accessory cache: image ${ABSENT_REF} left out of the release (this machine's Docker engine does not have it): each host needs it from a registry (\`docker pull ${ABSENT_REF}\` there)`,
    `accessory queue: image ${ABSENT_REF}@sha256:${'a'.repeat(64)} left out of the release (it is named by digest, which only a registry can answer to): each host needs it from a registry (\`docker pull ${ABSENT_REF}@sha256:${'a'.repeat(64)}\` there)`,
  ]);
  assert.ok(built.images?.objects.has(dbId.slice('sha256:'.length)), 'its objects go into the store with the release');

  // No accessory image at all: the field stays out of the manifest (the release id of such a project does not change).
  const none = await buildRelease({ project: repo.project({ app: APP, services: [], accessories: [accessory('cache', ABSENT_REF)] }), outDir: path.join(scratch, 'out-none') });
  assert.equal('accessoryImages' in none.manifest.runtime, false);
  assert.equal(none.images, undefined);
});

test('accessory images: pruning keeps an image a kept release carries for an accessory, and one an accessory\'s container uses, tags and all', async (t) => {
  if (!requireDocker(t)) return;
  // Images named by slipway only (as a service's image is), which pruning a release would otherwise remove.
  const carried = buildImage(`slipway/${APP}:carried`);
  const used = buildImage(`slipway/${APP}:used`);
  const manifestWith = (version: string, runtime: Partial<ReleaseManifest['runtime']>) => ({ ...v1.manifest, version, runtime: { ...v1.manifest.runtime, services: [], ...runtime } }) as ReleaseManifest;
  const serviceImage = (id: string) => ({ ...v1.manifest.runtime.services[0]!, image: { id, layers: [], source: 'Dockerfile' } });
  const removed = manifestWith('old', { services: [serviceImage(carried), serviceImage(used)] });
  const kept = manifestWith('v2', { accessoryImages: [{ name: 'cache', reference: 'redis:7', id: carried, layers: [] }] });
  const container = `slipway-${APP}-production-queue`;
  const run = spawnSync('docker', ['run', '-d', '--name', container, '--network', 'none', '--label', `dev.slipway.app=${APP}`, '--label', 'dev.slipway.role=accessory', used], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  t.after(() => spawnSync('docker', ['rm', '-f', container], { stdio: 'ignore' }));

  const pruned = await pruneReleaseImages({ removed: [removed], kept: async () => [kept] });
  assert.deepEqual(pruned.removed, []);
  assert.deepEqual(pruned.kept, [
    { id: carried, why: 'release v2 carries it for the accessory cache' },
    { id: used, why: `the accessory container ${container} uses it` },
  ]);
  assert.deepEqual(inspectImage(carried)?.RepoTags, [`slipway/${APP}:carried`]);
  assert.deepEqual(inspectImage(used)?.RepoTags, [`slipway/${APP}:used`]);
});

test('accessory images: the store keeps the accessory objects of a kept release', async (t) => {
  if (!requireDocker(t)) return;
  await restoreDb(t);
  const store = storeCopy(t);
  // v2 carries another image under the same reference (the build machine pulled a newer one).
  const newer = buildImage(DB_REF);
  t.after(async () => {
    removeImage(newer);
    await restoreDb(t);
  });
  // The same commit, its service now run as a process: v2's files are v1's, so its only new objects (a pack of their own) are its accessory image's.
  const v2 = await buildAndStore({ project: repo.project({ app: APP, services: [], accessories: [accessory('db', DB_REF)] }), store, outDir: path.join(scratch, 'out-v2'), version: 'v2' });
  assert.equal(v2.manifest.runtime.accessoryImages?.[0]?.id, newer);

  const result = await pruneStore(store, APP, { keep: 1, channelReleaseIds: new Set(), graceMs: 0 });
  assert.deepEqual(result.removed.map((r) => r.version), ['v1']);
  const index = await loadObjectIndex(store, APP);
  assert.equal(result.objects.deletedPacks, 0, 'no pack a kept release needs went');
  for (const object of releaseImageObjects(v2.manifest)) assert.ok(index.has(object.sha256), `${object.kind} ${object.sha256.slice(0, 12)} of the kept release stays`);
  assert.ok(index.has(newer.slice('sha256:'.length)), 'the config of v2\'s accessory image stays');
  assert.ok(index.has(v2.manifest.runtime.accessoryImages![0]!.layers.at(-1)!.sha256), 'the layer only v2\'s accessory image has stays');
});
