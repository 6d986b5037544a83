/**
 * A release's images onto a host from the environment's registry, by digest, never by tag: the
 * digests come from the record `slipway publish` left in the store (src/store/registry-records.ts),
 * and every pulled image must have the id the release's manifest pins, or it is taken off the
 * engine again and the release refused. So a tag moved in the registry is harmless, and a
 * registry that is down or answers with other bytes refuses the release before anything changes.
 *
 * No fallback to the store once a release was published to the registry: a registry the
 * environment names but cannot serve is a fault the operator must see, not one to hide behind
 * gigabytes moved another way. A release never pushed there (built and deployed with `slipway
 * deploy`, published before the registry was configured) still comes from the store: the caller
 * decides that from `imagesInRegistry`.
 */
import type { ReleaseImage } from '../config/types.js';
import { connectEngine, isNotFound, type DockerClient } from '../container/engine.js';
import { SlipwayError } from '../errors.js';
import { engineMessage, followEvents, registryAuth, registryFailed, registryRepository, type RegistryAuth, type RegistryConfig, type RegistryRecord } from '../container/registry.js';
import { readRegistryRecord } from '../store/registry-records.js';
import type { BlobStore } from '../store/blob-store.js';

export interface PulledImage {
  id: string;
  /** layers the engine downloaded (the others it held already) */
  pulledLayers: number;
  /** bytes the registry sent for them (compressed) */
  pulledBytes: number;
}

/** The record of what was pushed for this release to the environment's repository, or null when it never was. */
export async function imagesInRegistry(o: { store: BlobStore; app: string; releaseId: string; registry: RegistryConfig }): Promise<RegistryRecord | null> {
  return readRegistryRecord(o.store, o.app, o.releaseId, registryRepository(o.registry, o.app));
}

/**
 * Pulls each image by `<repository>@<digest>` and checks its id. All or nothing: when one
 * fails, the ones this call pulled are taken off the engine again, and the error says nothing
 * was changed. Each pulled image gets `tags` in `repository` (slipway's own names, which keep it
 * from the engine's pruning) before its digest name is taken off again.
 */
export async function pullReleaseImages(o: {
  record: RegistryRecord;
  registry: RegistryConfig;
  images: Array<{ image: ReleaseImage; services: string[] }>;
  names: { repository: string; tags: string[] };
  env?: NodeJS.ProcessEnv;
}): Promise<PulledImage[]> {
  const auth = registryAuth(o.registry, o.env);
  for (const { image, services } of o.images) {
    if (o.record.images[image.id] === undefined) {
      throw new SlipwayError('REGISTRY_IMAGE_MISSING', `the image of ${services.join(', ')} (${image.id.slice(0, 19)}) was not pushed to ${o.record.repository} with this release; refused, nothing was changed`, {
        hint: 'publish the release to this environment again (`slipway publish <env>`), which pushes its images',
      });
    }
  }
  const engine = await connectEngine();
  const pulled: PulledImage[] = [];
  const references: string[] = [];
  try {
    for (const { image, services } of o.images) {
      const reference = `${o.record.repository}@${o.record.images[image.id]!}`;
      references.push(reference);
      const got = await pullByDigest(engine, { reference, auth, services });
      const id = await inspectId(engine, reference);
      if (id !== image.id) {
        throw new SlipwayError('REGISTRY_IMAGE_MISMATCH', `the registry's ${reference} is image ${id?.slice(0, 19) ?? '(none)'}, not ${image.id.slice(0, 19)} that the release runs for ${services.join(', ')}; refused, nothing was changed`, {
          hint: 'the registry holds other bytes under that digest than were published (or the record in the store was altered): publish the release again, and check who else writes to the registry and the store',
        });
      }
      pulled.push({ id: image.id, ...got });
    }
  } catch (error) {
    // Nothing pulled by this call stays: the references go (an image also held under a tag only loses this name).
    for (const reference of references) await engine.getImage(reference).remove().catch(() => undefined);
    throw error;
  }
  for (const [n, reference] of references.entries()) {
    for (const tag of o.names.tags) {
      try {
        await engine.getImage(pulled[n]!.id).tag({ repo: o.names.repository, tag });
      } catch (error) {
        throw registryFailed('DOCKER_FAILED', `tagging image ${pulled[n]!.id.slice(0, 19)}`, engineMessage(error), undefined, 'check the engine (`docker images`, its log); then deploy again');
      }
    }
    // The digest name goes: the image keeps slipway's names only, as one loaded from the store does.
    await engine.getImage(reference).remove({ noprune: true }).catch(() => undefined);
  }
  return pulled;
}

async function pullByDigest(engine: DockerClient, o: { reference: string; auth: RegistryAuth | undefined; services: string[] }): Promise<{ pulledLayers: number; pulledBytes: number }> {
  const doing = `pulling the image of ${o.services.join(', ')} from ${o.reference}`;
  const hint = 'check that the registry answers from this host (`curl http://<registry>/v2/`) and that the credentials the environment names are set in the host\'s env file; then deploy again';
  const sizes = new Map<string, number>();
  let pulledLayers = 0;
  try {
    const stream = await engine.pull(o.reference, o.auth ? { authconfig: o.auth } : {});
    const failure = await followEvents(engine, stream as NodeJS.ReadableStream, (event) => {
      const progress = event as { id?: string; status?: string; progressDetail?: { total?: number } };
      if (progress.id && progress.status === 'Downloading' && progress.progressDetail?.total) sizes.set(progress.id, progress.progressDetail.total);
      if (progress.status === 'Pull complete') pulledLayers++;
    });
    if (failure !== undefined) throw registryFailed('REGISTRY_PULL_FAILED', doing, `${failure}; refused, nothing was changed`, o.auth, hint);
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    throw registryFailed('REGISTRY_PULL_FAILED', doing, `${engineMessage(error)}; refused, nothing was changed`, o.auth, hint);
  }
  return { pulledLayers, pulledBytes: [...sizes.values()].reduce((sum, size) => sum + size, 0) };
}

async function inspectId(engine: DockerClient, reference: string): Promise<string | null> {
  try {
    return (await engine.getImage(reference).inspect()).Id;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw registryFailed('REGISTRY_PULL_FAILED', `inspecting ${reference} after pulling it`, engineMessage(error), undefined);
  }
}
