/**
 * `slipway store prune` keeps what the kept releases need, their container images included:
 * an image's layers and config are objects of the store like file contents.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { releaseImageObjects } from '../../src/store/image-objects.js';
import { pruneStore } from '../../src/store/store-maintenance.js';
import { readRegistryRecord, writeRegistryRecord } from '../../src/store/registry-records.js';
import { requireDocker } from '../helpers/docker.js';
import { buildAndStore, makeImageRepo, removeImagesOf } from '../helpers/image-repo.js';

const APP = 'imgprune';
after(() => removeImagesOf(APP));

test('store prune keeps the image objects of the releases it keeps, and drops those only pruned releases had', async (t) => {
  if (!requireDocker(t)) return;
  const repo = makeImageRepo(t, APP, `console.log("v1 ${Date.now()}");\n`);
  const store = createLocalStore(path.join(repo.scratch, 'store'));
  const v1 = await buildAndStore({ project: repo.containerProject(), store, outDir: path.join(repo.scratch, 'out1'), version: 'v1' });
  repo.write('app.js', `console.log("v2 ${Date.now()}");\n`);
  repo.commit('v2');
  const v2 = await buildAndStore({ project: repo.containerProject(), store, outDir: path.join(repo.scratch, 'out2'), version: 'v2' });

  const keptObjects = releaseImageObjects(v2.manifest).map((o) => o.sha256);
  const onlyV1 = releaseImageObjects(v1.manifest).map((o) => o.sha256).filter((sha) => !keptObjects.includes(sha));
  assert.ok(onlyV1.length >= 1, 'v1 has an app layer and a config of its own');

  // Both were published to a registry: their digest records sit beside them in the store.
  const repository = '127.0.0.1:5000/imgprune';
  const digest = `sha256:${'d'.repeat(64)}`;
  for (const built of [v1, v2]) {
    const imageId = built.manifest.runtime.services[0]!.image!.id;
    await writeRegistryRecord(store, APP, built.id, { repository, images: { [imageId]: digest } });
  }

  const result = await pruneStore(store, APP, { keep: 1, channelReleaseIds: new Set(), graceMs: 0 });

  assert.equal(await readRegistryRecord(store, APP, v1.id, repository), null, 'the pruned release\'s registry record went with it');
  assert.deepEqual(await store.list(`${APP}/registry/${v1.id}/`), []);
  assert.ok(await readRegistryRecord(store, APP, v2.id, repository), 'the kept release keeps its record');

  const index = await loadObjectIndex(store, APP);
  for (const sha of keptObjects) assert.ok(index.has(sha), `object ${sha.slice(0, 12)} of the kept v2 image is still in the store`);
  // Packs go whole: v1's own objects are freed, or kept beside live ones and counted as such.
  const stillThere = onlyV1.filter((sha) => index.has(sha));
  if (stillThere.length > 0) assert.ok(result.objects.unreferencedBytesKept > 0, 'v1-only objects left in a live pack are counted as unreferenced');
  assert.deepEqual(result.removed.map((r) => r.version), ['v1']);
});
