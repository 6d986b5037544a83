/**
 * The images of a release's accessories (`runtime.accessoryImages`) onto a host's engine, so
 * that `slipway accessory start` finds them on a host without a registry: the ones the engine
 * lacks are loaded from the store with the services' images (install-image.ts), then named
 * by the reference slipway.yml gives (`postgres:16`). They are never started: what an accessory
 * runs changes only by `slipway accessory upgrade`. A reference that already names another
 * image on the host is left as it is — a database's image is never swapped behind its
 * operator's back — and the release's image is then not loaded at all (nothing would name it).
 */
import { engineFailure, isNotFound, type DockerClient } from '../container/engine.js';
import type { AccessoryImage } from '../release/manifest.js';
import type { AccessoryImageOutcome, ImageInstall, PlannedImage } from './image-install-types.js';

export type { AccessoryImageOutcome };

export interface PlannedAccessory {
  image: AccessoryImage;
  /** the engine holds the image (or loads it now for a service) */
  present: boolean;
  /** the image the reference names on this host now, or null when none */
  namedId: string | null;
}

/**
 * Looks at each accessory image: the ones to load from the store (each id once; none whose
 * reference names another image here, none a service of the release loads already).
 */
export async function planAccessoryImages(o: {
  engine: DockerClient;
  images: readonly AccessoryImage[];
  /** ids of the services' images: the engine holds them once those are installed */
  loadedWithServices: ReadonlySet<string>;
  /** whether the engine holds an image */
  has: (id: string) => Promise<boolean>;
  /** how many of these layers, from the bottom, the engine holds */
  held: (layers: AccessoryImage['layers']) => Promise<number>;
}): Promise<{ planned: PlannedAccessory[]; toLoad: PlannedImage[] }> {
  const planned: PlannedAccessory[] = [];
  const toLoad = new Map<string, PlannedImage>();
  for (const image of o.images) {
    const namedId = await referenceId(o.engine, image.reference);
    const present = o.loadedWithServices.has(image.id) || (await o.has(image.id));
    planned.push({ image, present, namedId });
    if ((namedId !== null && namedId !== image.id) || present || toLoad.has(image.id)) continue;
    toLoad.set(image.id, {
      image: { id: image.id, layers: image.layers, source: image.reference },
      services: [],
      what: `accessory ${image.name}`,
      held: await o.held(image.layers),
      // Named after the load, once the reference is checked again: a load would move a name that meanwhile points elsewhere.
      repoTags: [],
    });
  }
  return { planned, toLoad: [...toLoad.values()] };
}

/**
 * Names each loaded (or present) accessory image by its reference when the reference is free,
 * and says what became of every one. `loaded` holds what the load of each id cost.
 */
export async function nameAccessoryImages(engine: DockerClient, planned: readonly PlannedAccessory[], loaded: Map<string, Omit<ImageInstall, 'services' | 'accessory'>>): Promise<ImageInstall[]> {
  const results: ImageInstall[] = [];
  for (const { image, present, namedId } of planned) {
    const outcome: AccessoryImageOutcome = { name: image.name, reference: image.reference, tag: 'already' };
    const load = loaded.get(image.id);
    loaded.delete(image.id); // a second accessory of the same image found it present
    const untouched = { id: image.id, layers: image.layers.length, fetchedLayers: 0, fetchedBytes: 0, layerBytes: 0 };
    if (!present && load === undefined) {
      // Its reference names another image here: neither loaded nor named.
      results.push({ ...untouched, services: [], how: 'skipped', accessory: { ...outcome, tag: 'taken', otherId: namedId! } });
      continue;
    }
    const now = namedId === image.id ? namedId : await referenceId(engine, image.reference);
    if (now === null) {
      await tagReference(engine, image.id, image.reference);
      outcome.tag = 'tagged';
    } else if (now !== image.id) {
      outcome.tag = 'taken';
      outcome.otherId = now;
    }
    results.push({ ...(load ?? { ...untouched, how: 'present' }), services: [], accessory: outcome });
  }
  return results;
}

/** `postgres:16` → postgres / 16; `registry:5000/db` → registry:5000/db / latest. */
export function splitReference(reference: string): { repo: string; tag: string } {
  const colon = reference.lastIndexOf(':');
  return colon > reference.lastIndexOf('/') ? { repo: reference.slice(0, colon), tag: reference.slice(colon + 1) } : { repo: reference, tag: 'latest' };
}

/** The id of the image a reference names in the engine, or null when it names none. */
export async function referenceId(engine: DockerClient, reference: string): Promise<string | null> {
  try {
    return (await engine.getImage(reference).inspect()).Id;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw engineFailure(`inspecting the image ${reference}`, error);
  }
}

async function tagReference(engine: DockerClient, id: string, reference: string): Promise<void> {
  try {
    await engine.getImage(id).tag(splitReference(reference));
  } catch (error) {
    throw engineFailure(`naming image ${id.slice(0, 19)} ${reference}`, error);
  }
}
