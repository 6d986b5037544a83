/**
 * Bytes moved for a release whose image differs from the previous one in one layer: the
 * notes stack's v1 and v2 are built (v2 changes the app's files: the image's top layer),
 * then a host whose engine holds v1's image and not v2's gets v2's image from the store,
 * as the deploy's fetch step does. Every read from the store is counted. The baselines
 * from the same run: the changed layer as stored (the goal: about 1x) and the whole image
 * as stored (what a host without layer reuse would fetch). Also: how much the store grew
 * when v2 was built.
 *
 *   node dist/bench/image-delta.js
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { installReleaseImages, releaseImages } from '../src/host/install-image.js';
import type { ReleaseImage } from '../src/config/types.js';
import type { BlobStore } from '../src/store/blob-store.js';
import { createLocalStore } from '../src/store/local-store.js';
import { loadObjectIndex, type ObjectIndex } from '../src/store/objects.js';
import { readReleaseManifest } from '../src/store/releases.js';
import { imageIdHex } from '../src/store/image-objects.js';
import { formatBytes } from '../src/util/format.js';
import { containerSkipReason, createContainerStack } from './container-stack.js';

const skip = containerSkipReason();
if (skip !== null) {
  console.log(`image-delta: SKIPPED: needs a Docker engine and PostgreSQL binaries: ${skip}`);
  process.exit(0);
}

/** The store with every read counted: bytes of pack ranges, and of whole objects (pack indexes, manifests). */
function countingStore(store: BlobStore): { store: BlobStore; reads: { packBytes: number; otherBytes: number; requests: number } } {
  const reads = { packBytes: 0, otherBytes: 0, requests: 0 };
  const count = (key: string, bytes: number) => {
    reads.requests += 1;
    if (key.endsWith('.pack')) reads.packBytes += bytes;
    else reads.otherBytes += bytes;
  };
  const counted: BlobStore = {
    ...store,
    description: store.description,
    get: async (key, options) => {
      const body = await store.get(key, options);
      count(key, body?.length ?? 0);
      return body;
    },
    getRange: async (key, start, end) => {
      const body = await store.getRange(key, start, end);
      count(key, body?.length ?? 0);
      return body;
    },
    getToFile: async (key, destFile) => {
      const found = await store.getToFile(key, destFile);
      count(key, found ? (await fs.stat(destFile)).size : 0);
      return found;
    },
  };
  if (store.getIfChanged) {
    const getIfChanged = store.getIfChanged.bind(store);
    counted.getIfChanged = async (key, etag, options) => {
      const answer = await getIfChanged(key, etag, options);
      count(key, answer && !answer.notModified ? answer.body.length : 0);
      return answer;
    };
  }
  return { store: counted, reads };
}

function storedBytes(index: ObjectIndex, digests: Iterable<string>): number {
  let sum = 0;
  for (const digest of digests) sum += index.get(digest)?.length ?? 0;
  return sum;
}

async function folderBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) sum += (await fs.stat(path.join(entry.path, entry.name))).size;
  }
  return sum;
}

function onlyImage(manifest: Parameters<typeof releaseImages>[0], version: string): ReleaseImage {
  const images = [...releaseImages(manifest).values()];
  if (images.length !== 1) throw new Error(`${version} runs ${images.length} images; the bench expects web and worker to share one`);
  return images[0]!.image;
}

let ok = false;
const teardowns: Array<() => Promise<void>> = [];
try {
  const stack = await createContainerStack({ after: (fn) => teardowns.push(fn) }, { build: [] });
  const storeDir = path.join(stack.home, 'store');
  const store = createLocalStore(storeDir);
  const v1 = await stack.build('v1');
  const index1 = await loadObjectIndex(store, stack.app);
  const store1 = await folderBytes(storeDir);
  // v2 with a line naming this run in server.js: still one changed layer, and one no other image on this engine holds
  // (the stack's files are the same in every run, so other runs' images would hold the stack's own v2 layer).
  const git = (args: string[]) => execFileSync('git', args, { cwd: stack.repo, stdio: 'pipe', env: { ...process.env, GIT_AUTHOR_DATE: '2025-01-05T12:00:00Z', GIT_COMMITTER_DATE: '2025-01-05T12:00:00Z' } });
  git(['checkout', '-q', '-B', 'image-delta', 'v2']);
  appendFileSync(path.join(stack.repo, 'server.js'), `// image-delta bench ${stack.app}\n`);
  git(['commit', '-q', '-am', 'v2 with a line naming this bench run']);
  git(['tag', '-a', 'v2-delta', '-m', 'v2 for the image-delta bench']);
  const v2 = await stack.build('v2-delta');
  const index2 = await loadObjectIndex(store, stack.app);
  const store2 = await folderBytes(storeDir);

  const manifest1 = await readReleaseManifest(store, stack.app, v1.id);
  const manifest2 = await readReleaseManifest(store, stack.app, v2.id);
  const image1 = onlyImage(manifest1, 'v1');
  const image2 = onlyImage(manifest2, 'v2');
  const inV1 = new Set(image1.layers.map((l) => l.sha256));
  const changed = image2.layers.filter((l) => !inV1.has(l.sha256));
  const configHex = imageIdHex(image2.id);
  const changedStored = storedBytes(index2, changed.map((l) => l.sha256));
  const configStored = storedBytes(index2, [configHex]);
  const imageStored = storedBytes(index2, [...image2.layers.map((l) => l.sha256), configHex]);
  const imageSize = image2.layers.reduce((sum, l) => sum + l.size, 0);
  const newDigests = [...index2.keys()].filter((d) => !index1.has(d));
  const v2ImageDigests = new Set([...image2.layers.map((l) => l.sha256), configHex]);
  const newImageStored = storedBytes(index2, newDigests.filter((d) => v2ImageDigests.has(d)));
  const newOtherStored = storedBytes(index2, newDigests.filter((d) => !v2ImageDigests.has(d)));

  // A host that has v1: the engine keeps v1's image and loses v2's (every tag, and the build steps only it used).
  const tags = JSON.parse(spawnSync('docker', ['image', 'inspect', '--format', '{{json .RepoTags}}', image2.id], { encoding: 'utf8' }).stdout) as string[];
  const removed = spawnSync('docker', ['rmi', ...tags], { encoding: 'utf8' });
  if (removed.status !== 0) throw new Error(`docker rmi of v2's image failed: ${removed.stderr}`);
  if (spawnSync('docker', ['image', 'inspect', image1.id], { stdio: 'ignore' }).status !== 0) throw new Error("v1's image left the engine with v2's");

  const counted = countingStore(store);
  const t0 = performance.now();
  const [install] = await installReleaseImages({ store: counted.store, app: stack.app, releaseId: v2.id, manifest: manifest2 });
  const installMs = performance.now() - t0;
  if (!install || install.how !== 'loaded') throw new Error(`v2's image was not loaded from the store (${install?.how ?? 'nothing installed'})`);
  if (spawnSync('docker', ['image', 'inspect', image2.id], { stdio: 'ignore' }).status !== 0) throw new Error("v2's image is not in the engine after the install");

  const b = (n: number) => `${formatBytes(n)} (${n} B)`;
  const ratioLayer = counted.reads.packBytes / changedStored;
  const ratioLayerConfig = counted.reads.packBytes / (changedStored + configStored);
  const ratioImage = counted.reads.packBytes / imageStored;
  console.log(`image-delta: the notes stack's image (web and worker share it), v1 → v2 (the app's files changed, one layer); timings on a shared 2-core machine`);
  console.log(`  image v2          ${image2.layers.length} layers, ${b(imageSize)}; in the store ${b(imageStored)} (compressed)`);
  console.log(`  changed layers    ${changed.length} of ${image2.layers.length}: ${changed.map((l) => `${l.sha256.slice(0, 12)} ${b(l.size)}, stored ${b(index2.get(l.sha256)?.length ?? 0)}`).join('; ')}`);
  console.log(`  image config      stored ${b(configStored)}`);
  console.log(`  store growth      building v2 added ${b(store2 - store1)} to the store folder: new image objects ${b(newImageStored)}, release files ${b(newOtherStored)}, the rest pack indexes and the manifest`);
  console.log(`  fetch on a host   ${install.fetchedLayers} of ${install.layers} layer(s) fetched in ${installMs.toFixed(0)} ms; read from the store: ${b(counted.reads.packBytes)} of packs (the install says ${b(install.fetchedBytes)}) + ${b(counted.reads.otherBytes)} of pack indexes in ${counted.reads.requests} reads`);
  console.log(
    `image-delta: bytes fetched / the changed layer as stored = ${ratioLayer.toFixed(2)}x (with the image config ${ratioLayerConfig.toFixed(2)}x; goal ≈ 1x); / the whole image as stored = ${ratioImage.toFixed(5)}x (${(ratioImage * 100).toFixed(3)} %)`,
  );
  console.log(
    `image-delta: counting the pack indexes too (read once per fetch, they grow with the app's history in the store): ${((counted.reads.packBytes + counted.reads.otherBytes) / changedStored).toFixed(2)}x the changed layer`,
  );
  // The bar: the layers the engine had are not fetched, and what is fetched is the changed layer and the config.
  ok = install.fetchedLayers === changed.length && changed.length === 1 && ratioLayerConfig <= 1.2 && ratioImage < 0.05;
  if (!ok) console.log(`image-delta: MISSED the bar (1 changed layer fetched, reads ≤ 1.2x the changed layer and config, < 5 % of the image)`);
} catch (error) {
  console.log(`image-delta: FAILED: ${(error as Error).message}`);
} finally {
  for (const teardown of teardowns.reverse()) await teardown().catch((error) => console.error(`teardown: ${(error as Error).message}`));
}
process.exit(ok ? 0 : 1);
