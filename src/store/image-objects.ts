/**
 * Container images as store objects. An image is its config (a JSON document whose
 * sha256 is the image id) and its layers (uncompressed tars whose sha256 are the diff
 * ids the config lists). Both are kept as content objects beside the release's files,
 * under the same digest namespace, so a layer shared by two releases (a base image) is
 * stored, sent and fetched once, and a release whose image changed in one layer costs
 * that layer. The images' objects go in before the release's manifest: a listed release
 * is always whole, images included.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { ContentSource } from '../release/content-source.js';
import type { ReleaseManifest } from '../release/manifest.js';
import type { BlobStore } from './blob-store.js';
import { imageIdHex } from '../container/image-save.js';
import { loadObjectIndex, type ObjectIndex } from './objects.js';
import { putObjects, type ObjectsProgress, type PutObjectsResult } from './put-objects.js';
import { readObjects } from './read-objects.js';

export { imageIdHex };

/** An image config is a few KiB; one past this is not an image config (a hostile index, or not slipway's). */
export const MAX_IMAGE_CONFIG_BYTES = 16 * 1024 * 1024;

/** One object of a release's images: a layer (its size pinned by the manifest) or a config (its size known only to the store). */
export interface ImageObject {
  sha256: string;
  kind: 'layer' | 'config';
  /** layers: the manifest's size; configs: absent */
  size?: number;
}


/** The images a release pins, services' and accessories' (an id may come twice). */
function pinnedImages(manifest: ReleaseManifest): Array<{ id: string; layers: ReadonlyArray<{ sha256: string; size: number }> }> {
  return [...manifest.runtime.services.flatMap((service) => (service.image ? [service.image] : [])), ...(manifest.runtime.accessoryImages ?? [])];
}

/** Every image object a release needs (each once), configs first: what a store must keep and send for it. Its accessories' images are part of it. */
export function releaseImageObjects(manifest: ReleaseManifest): ImageObject[] {
  const out = new Map<string, ImageObject>();
  const images = pinnedImages(manifest);
  for (const image of images) {
    const config = imageIdHex(image.id);
    if (!out.has(config)) out.set(config, { sha256: config, kind: 'config' });
  }
  for (const image of images) {
    for (const layer of image.layers) {
      if (!out.has(layer.sha256)) out.set(layer.sha256, { sha256: layer.sha256, kind: 'layer', size: layer.size });
    }
  }
  return [...out.values()];
}

/**
 * Puts image objects (digest → size) into the store: only those it lacks are read
 * from `source` (checked against their digest), packed and uploaded.
 */
export async function putImageObjects(store: BlobStore, app: string, objects: Map<string, number>, source: ContentSource, options: { index?: ObjectIndex; onProgress?: ObjectsProgress } = {}): Promise<PutObjectsResult> {
  if (objects.size === 0) return { addedObjects: 0, addedBytes: 0, storedBytes: 0 };
  return putObjects(store, app, objects, source, options);
}

/**
 * Reads a release's image objects out of `from` into `dir` (one file per digest), each
 * checked against its digest, except those `skip` says the receiver has. Returns the
 * size of each one read. An object `from` lacks is refused (IMAGE_NOT_IN_STORE).
 */
export async function fetchImageObjects(o: { from: BlobStore; app: string; manifest: ReleaseManifest; dir: string; index?: ObjectIndex; skip?: (sha256: string) => boolean }): Promise<Map<string, number>> {
  const wanted = releaseImageObjects(o.manifest).filter((object) => !o.skip?.(object.sha256));
  const sizes = new Map<string, number>();
  if (wanted.length === 0) return sizes;
  await fs.mkdir(o.dir, { recursive: true });
  const index = o.index ?? (await loadObjectIndex(o.from, o.app));
  const sized = wanted.map((object) => ({ sha256: object.sha256, size: objectSize(o.app, object, index) }));
  await readObjects(o.from, o.app, sized, index, async (digest, content) => {
    await fs.writeFile(path.join(o.dir, digest), content);
    sizes.set(digest, content.length);
  });
  return sizes;
}

/** The size an image object must have: the manifest's for a layer; for a config, the store's (bounded). */
export function objectSize(app: string, object: ImageObject, index: ObjectIndex): number {
  const location = index.get(object.sha256);
  if (!location) throw imageObjectMissing(app, object);
  if (object.size !== undefined) return object.size;
  if (location.size > MAX_IMAGE_CONFIG_BYTES) {
    throw new SlipwayError('IMAGE_REJECTED', `the store says image config ${object.sha256.slice(0, 12)} of ${app} holds ${location.size} bytes, more than any image config`, {
      hint: 'the store was changed outside slipway; publish the release again (`slipway build`)',
    });
  }
  return location.size;
}

export function imageObjectMissing(app: string, object: ImageObject): SlipwayError {
  const what = object.kind === 'config' ? `the config of image sha256:${object.sha256.slice(0, 12)}` : `image layer ${object.sha256.slice(0, 12)}`;
  return new SlipwayError('IMAGE_NOT_IN_STORE', `the store has no ${what} that a release of ${app} needs`, {
    hint: 'the release was published incompletely or its images were collected; build and publish it again with `slipway build`',
  });
}

/** What a build hands over of its images: every object (digest → size) and where those the store lacks are read from. */
export interface BuiltImageObjects {
  objects: Map<string, number>;
  source: ContentSource;
}

/**
 * Puts the images of a release just built into the store, before the release itself
 * (putRelease writes the manifest last, so a listed release has its images too).
 */
export async function putBuiltImages(store: BlobStore, app: string, images: BuiltImageObjects | undefined, options: { index?: ObjectIndex; onProgress?: ObjectsProgress } = {}): Promise<PutObjectsResult> {
  if (!images) return { addedObjects: 0, addedBytes: 0, storedBytes: 0 };
  return putImageObjects(store, app, images.objects, images.source, options);
}
