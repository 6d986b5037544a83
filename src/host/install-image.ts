/**
 * A release's container images onto a host's engine, from the store: hosts never build
 * and need no registry. (An environment with a registry gets the images of a release
 * published there from it instead, by digest: src/host/pull-image.ts.) Only what the engine lacks is fetched: when another image on the
 * host already holds the first layers of this one (the same base), those layers are
 * neither fetched nor sent to the engine. Every object fetched is checked against its
 * digest, and the config against the image id, before anything is loaded; an image the
 * engine and the store both lack is refused before anything changes. The images of the
 * release's accessories come the same way, always from the store, and are named by their
 * references instead of slipway's names (src/host/install-accessory-images.ts).
 *
 * The engine's load takes a tar of manifest.json, the config and a `<dir>/layer.tar` per
 * layer; Docker 20.10's load looks each layer up by its chain id before it opens the
 * file, so the tar leaves out the layers the engine holds (checked: test/host/install-image).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { connectEngine, connectEngineIfAny, engineFailure, isNotFound, type DockerClient } from '../container/engine.js';
import { SlipwayError } from '../errors.js';
import type { ReleaseImage } from '../config/types.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { imageRepository } from '../release/image-build.js';
import { imageTag } from '../container/registry.js';
import type { RegistryConfig } from '../container/registry.js';
import type { BlobStore } from '../store/blob-store.js';
import { imagesInRegistry, pullReleaseImages } from './pull-image.js';
import { imageIdHex, MAX_IMAGE_CONFIG_BYTES } from '../store/image-objects.js';
import { loadObjectIndex, type ObjectIndex } from '../store/objects.js';
import { readObjects, type WantedObject } from '../store/read-objects.js';
import { nameAccessoryImages, planAccessoryImages } from './install-accessory-images.js';
import type { ImageInstall, PlannedImage } from './image-install-types.js';

export type { ImageInstall, PlannedImage };

/** The distinct images a release runs, with the services that run each. */
export function releaseImages(manifest: ReleaseManifest): Map<string, { image: ReleaseImage; services: string[] }> {
  const images = new Map<string, { image: ReleaseImage; services: string[] }>();
  for (const service of manifest.runtime.services) {
    if (!service.image) continue;
    const known = images.get(service.image.id);
    if (known) known.services.push(service.name);
    else images.set(service.image.id, { image: service.image, services: [service.name] });
  }
  return images;
}

/**
 * Makes sure the engine holds every image of the release, tagged `slipway/<app>:<release
 * id>` (which also keeps it from the engine's own pruning of untagged images), and the
 * images of its accessories, named by their references (install-accessory-images.ts). A
 * release without container services or accessory images never reaches the engine. An
 * image the engine and the store both lack is refused before any is loaded.
 */
export async function installReleaseImages(o: {
  store: BlobStore;
  app: string;
  releaseId: string;
  manifest: ReleaseManifest;
  /** the environment's registry: a release published there is pulled from it, not loaded from the store (accessories' images always come from the store) */
  registry?: RegistryConfig;
  /** where the registry's credential variables are read (default: this process's environment) */
  env?: NodeJS.ProcessEnv;
  /** false: the services' images only (a machine that publishes to a registry needs no accessory) */
  accessories?: boolean;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}): Promise<ImageInstall[]> {
  const images = releaseImages(o.manifest);
  const accessoryImages = o.accessories === false ? [] : o.manifest.runtime.accessoryImages ?? [];
  if (images.size === 0 && accessoryImages.length === 0) return [];
  const engine = images.size > 0 ? await connectEngine() : await connectEngineIfAny();
  // A host without an engine runs no accessory: there is nothing to load them for.
  if (engine === null) return [];
  const results: ImageInstall[] = [];
  const toLoad: PlannedImage[] = [];
  let heldLists: string[][] | undefined;
  const held = async (layers: ReleaseImage['layers']) => heldPrefix((heldLists ??= await localLayerLists(engine)), layers.map((layer) => layer.sha256));
  for (const { image, services } of images.values()) {
    if (await hasImage(engine, image.id)) {
      results.push({ id: image.id, services, how: 'present', layers: image.layers.length, fetchedLayers: 0, fetchedBytes: 0, layerBytes: 0 });
      continue;
    }
    toLoad.push({ image, services, what: `service ${services.join(', ')}`, held: await held(image.layers), repoTags: [`${imageRepository(o.app)}:${imageTag(o.releaseId)}`] });
  }
  const accessories = await planAccessoryImages({ engine, images: accessoryImages, loadedWithServices: new Set(images.keys()), has: (id) => hasImage(engine, id), held });
  const record = toLoad.length > 0 && o.registry ? await imagesInRegistry({ store: o.store, app: o.app, releaseId: o.releaseId, registry: o.registry }) : null;
  const fromStore = [...(record ? [] : toLoad), ...accessories.toLoad];
  const index = fromStore.length > 0 ? await loadObjectIndex(o.store, o.app) : null;
  // Every image is known to be fetchable before any is fetched or pulled, and all are fetched (and checked) before any is loaded.
  for (const plan of fromStore) checkAvailable(o, plan, index!);
  if (record && o.registry) {
    const tags = [imageTag(o.releaseId), imageTag(o.manifest.version)];
    const pulled = await pullReleaseImages({ record, registry: o.registry, images: toLoad, names: { repository: imageRepository(o.app), tags }, ...(o.env ? { env: o.env } : {}) });
    for (const [n, plan] of toLoad.entries()) {
      results.push({ id: plan.image.id, services: plan.services, how: 'pulled', layers: plan.image.layers.length, fetchedLayers: pulled[n]!.pulledLayers, fetchedBytes: pulled[n]!.pulledBytes, layerBytes: 0 });
    }
  }
  const loaded = new Map<string, Omit<ImageInstall, 'services' | 'accessory'>>();
  if (fromStore.length > 0) {
    const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-image-'));
    try {
      const fetched: Array<{ plan: PlannedImage; dir: string; fetchedBytes: number }> = [];
      for (const [n, plan] of fromStore.entries()) {
        const dir = path.join(workDir, String(n));
        fetched.push({ plan, dir, fetchedBytes: await fetchImage({ ...o, plan, index: index!, dir }) });
      }
      for (const { plan, dir, fetchedBytes } of fetched) {
        await loadImage(engine, { plan, dir });
        const missing = plan.image.layers.slice(plan.held);
        const install = { id: plan.image.id, how: 'loaded' as const, layers: plan.image.layers.length, fetchedLayers: missing.length, fetchedBytes, layerBytes: missing.reduce((sum, l) => sum + l.size, 0) };
        loaded.set(plan.image.id, install);
        if (plan.services.length > 0) results.push({ ...install, services: plan.services });
      }
    } finally {
      await fs.rm(workDir, { recursive: true, force: true });
    }
  }
  for (const { image } of images.values()) await tagImage(engine, image.id, o.app, [o.releaseId, o.manifest.version]);
  results.push(...(await nameAccessoryImages(engine, accessories.planned, loaded)));
  return results;
}

async function hasImage(engine: DockerClient, id: string): Promise<boolean> {
  try {
    return (await engine.getImage(id).inspect()).Id === id;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw engineFailure(`looking for image ${id.slice(0, 19)}`, error);
  }
}

/** The layer lists (diff ids, bottom first) of every image the engine holds, intermediate ones included. */
async function localLayerLists(engine: DockerClient): Promise<string[][]> {
  try {
    const lists: string[][] = [];
    for (const info of await engine.listImages({ all: true })) {
      const inspected = await engine.getImage(info.Id).inspect().catch((error: unknown) => {
        if (isNotFound(error)) return null; // removed since the listing
        throw error;
      });
      if (inspected) lists.push((inspected.RootFS?.Layers ?? []).map(imageIdHex));
    }
    return lists;
  } catch (error) {
    throw engineFailure('listing the images on this host', error);
  }
}

/** How many of `layers`, from the bottom, some image of the engine holds (a layer is only ever shared with the ones below it). */
export function heldPrefix(held: readonly string[][], layers: readonly string[]): number {
  let best = 0;
  for (const list of held) {
    let n = 0;
    while (n < layers.length && n < list.length && list[n] === layers[n]) n++;
    if (n > best) best = n;
  }
  return best;
}

function checkAvailable(o: { store: BlobStore; app: string }, plan: PlannedImage, index: ObjectIndex): void {
  const lacking: string[] = [];
  if (!index.has(imageIdHex(plan.image.id))) lacking.push('its config');
  for (const layer of plan.image.layers.slice(plan.held)) if (!index.has(layer.sha256)) lacking.push(`layer ${layer.sha256.slice(0, 12)}`);
  if (lacking.length === 0) return;
  throw new SlipwayError(
    'IMAGE_NOT_AVAILABLE',
    `${plan.what} runs image ${plan.image.id.slice(0, 19)} (${plan.image.source}), which neither the Docker engine on this host nor the store (${o.store.description}) has: the store lacks ${lacking.slice(0, 3).join(', ')}${lacking.length > 3 ? ` and ${lacking.length - 3} more` : ''}; refused, nothing was changed`,
    {
      hint: 'build and publish this release again with slipway (`slipway build` / `slipway publish` put its image into the store), or `docker load` that image on this host, then deploy again',
    },
  );
}

/** Fetches the config and the layers the engine lacks into `dir`, laid out for the engine's load; each checked before it is written. */
async function fetchImage(o: { store: BlobStore; app: string; plan: PlannedImage; index: ObjectIndex; dir: string; onProgress?: (doneBytes: number, totalBytes: number) => void }): Promise<number> {
  const configHex = imageIdHex(o.plan.image.id);
  const configSize = o.index.get(configHex)!.size;
  if (configSize > MAX_IMAGE_CONFIG_BYTES) throw imageRejected(o.plan, `the store says its config holds ${configSize} bytes, more than any image config`);
  const wanted = new Map<string, WantedObject>([[configHex, { sha256: configHex, size: configSize }]]);
  for (const layer of o.plan.image.layers.slice(o.plan.held)) wanted.set(layer.sha256, { sha256: layer.sha256, size: layer.size });
  await fs.mkdir(o.dir, { recursive: true });
  let config: Buffer | undefined;
  let fetchedBytes: number;
  try {
    ({ fetchedBytes } = await readObjects(
      o.store,
      o.app,
      [...wanted.values()],
      o.index,
      async (digest, content) => {
        if (digest === configHex) config = content;
        else {
          await fs.mkdir(path.join(o.dir, digest), { recursive: true });
          await fs.writeFile(path.join(o.dir, digest, 'layer.tar'), content);
        }
      },
      { onProgress: o.onProgress },
    ));
  } catch (error) {
    if (error instanceof SlipwayError) throw imageRejected(o.plan, error.message, error);
    throw error;
  }
  // The config's digest is the image id (readObjects checked it); its layer list must be the manifest's.
  const diffIds = parseDiffIds(config!);
  const expected = o.plan.image.layers.map((layer) => `sha256:${layer.sha256}`);
  if (diffIds === null || diffIds.length !== expected.length || diffIds.some((id, i) => id !== expected[i])) {
    throw imageRejected(o.plan, 'its config lists other layers than the release says');
  }
  await fs.writeFile(path.join(o.dir, `${configHex}.json`), config!);
  return fetchedBytes;
}

function parseDiffIds(config: Buffer): string[] | null {
  try {
    const parsed = JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
    const ids = parsed.rootfs?.diff_ids;
    return Array.isArray(ids) && ids.every((id) => typeof id === 'string') ? (ids as string[]) : null;
  } catch {
    return null;
  }
}

function imageRejected(plan: PlannedImage, why: string, cause?: unknown): SlipwayError {
  return new SlipwayError('IMAGE_REJECTED', `the image of ${plan.what} (${plan.image.id.slice(0, 19)}) read from the store was refused: ${why}; nothing was loaded`, {
    hint: 'the store holds damaged or tampered data: build and publish the release again, and check who else writes to the store',
    cause,
  });
}

/** Hands the fetched image to the engine's load, then checks that the engine holds the image the release names. */
async function loadImage(engine: DockerClient, o: { plan: PlannedImage; dir: string }): Promise<void> {
  const configHex = imageIdHex(o.plan.image.id);
  const layers = o.plan.image.layers.map((layer) => `${layer.sha256}/layer.tar`);
  const manifest = [{ Config: `${configHex}.json`, RepoTags: o.plan.repoTags, Layers: layers }];
  await fs.writeFile(path.join(o.dir, 'manifest.json'), JSON.stringify(manifest));
  const names = (await fs.readdir(o.dir)).sort();
  const doing = `loading image ${o.plan.image.id.slice(0, 19)} of ${o.plan.what}`;
  try {
    const answer = await engine.loadImage(tar.create({ cwd: o.dir, portable: true }, names) as unknown as NodeJS.ReadableStream, { quiet: true });
    let text = '';
    for await (const chunk of answer as AsyncIterable<Buffer>) text += chunk.toString('utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
      if (event.error !== undefined) throw new Error(event.errorDetail?.message ?? event.error);
    }
  } catch (error) {
    throw engineFailure(doing, error);
  }
  if (!(await hasImage(engine, o.plan.image.id))) {
    throw new SlipwayError('IMAGE_LOAD_FAILED', `${doing}: the engine does not hold ${o.plan.image.id.slice(0, 19)} after loading it`, {
      hint: 'check the engine (`docker images`, its log); then deploy again',
    });
  }
}

async function tagImage(engine: DockerClient, id: string, app: string, tags: string[]): Promise<void> {
  for (const tag of tags) {
    try {
      await engine.getImage(id).tag({ repo: imageRepository(app), tag: imageTag(tag) });
    } catch (error) {
      throw engineFailure(`tagging image ${id.slice(0, 19)}`, error);
    }
  }
}
