/**
 * `slipway publish <env>` for an environment with a registry: the release's images into this
 * machine's engine (from the store when it lacks them: a release built elsewhere), then pushed
 * to the registry, and the digests it gave recorded in the store.
 */
import type { EnvironmentConfig } from '../config/types.js';
import { connectEngine, engineFailure, type DockerClient } from '../container/engine.js';
import { engineMessage, followEvents, registryAuth, registryFailed, registryRepository, registryTag, type RegistryAuth, type RegistryConfig, type RegistryRecord } from '../container/registry.js';
import { SlipwayError } from '../errors.js';
import type { ReleaseManifest } from '../release/manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import { writeRegistryRecord } from '../store/registry-records.js';
import { readReleaseManifest } from '../store/releases.js';
import { installReleaseImages } from './install-image.js';

/** The distinct images of a release, each with the services running it (file order). */
export function manifestImages(manifest: ReleaseManifest): Array<{ id: string; services: string[] }> {
  const images = new Map<string, string[]>();
  for (const service of manifest.runtime.services) {
    if (!service.image) continue;
    const services = images.get(service.image.id);
    if (services) services.push(service.name);
    else images.set(service.image.id, [service.name]);
  }
  return [...images].map(([id, services]) => ({ id, services }));
}

/**
 * `slipway publish <env>` for an environment with a registry: the release's images into this
 * machine's engine (from the store when it lacks them: a release built elsewhere), then pushed.
 * Null when the environment has no registry or the release runs no container.
 */
export async function publishReleaseImages(o: {
  store: BlobStore;
  app: string;
  releaseId: string;
  environment: EnvironmentConfig;
  env?: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
}): Promise<RegistryRecord | null> {
  if (!o.environment.registry) return null;
  const manifest = await readReleaseManifest(o.store, o.app, o.releaseId);
  if (manifestImages(manifest).length === 0) return null;
  registryAuth(o.environment.registry, o.env); // unset credentials refuse before the engine is touched
  await installReleaseImages({ store: o.store, app: o.app, releaseId: o.releaseId, manifest, accessories: false });
  return pushImagesToRegistry({ ...o, manifest, registry: o.environment.registry });
}

/**
 * Pushes every image of a release (which the local engine must hold) to the registry as
 * `<url>/<app>:<tag>` and records the registry's digest of each in the store.
 * Null for a release without container services: the engine and the registry are never asked.
 */
export async function pushImagesToRegistry(o: {
  store: BlobStore;
  app: string;
  releaseId: string;
  manifest: ReleaseManifest;
  registry: RegistryConfig;
  env?: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
}): Promise<RegistryRecord | null> {
  const images = manifestImages(o.manifest);
  if (images.length === 0) return null;
  const auth = registryAuth(o.registry, o.env);
  const repository = registryRepository(o.registry, o.app);
  const engine = await connectEngine();
  const record: RegistryRecord = { repository, images: {} };
  for (const image of images) {
    const tag = registryTag(o.releaseId, image.services[0]!, images.length > 1);
    o.onProgress?.(`pushing the image of ${image.services.join(', ')} to ${repository}:${tag}`);
    record.images[image.id] = await pushImage(engine, { id: image.id, repository, tag, auth });
  }
  await writeRegistryRecord(o.store, o.app, o.releaseId, record);
  return record;
}



async function pushImage(engine: DockerClient, o: { id: string; repository: string; tag: string; auth: RegistryAuth | undefined }): Promise<string> {
  const reference = `${o.repository}:${o.tag}`;
  try {
    await engine.getImage(o.id).tag({ repo: o.repository, tag: o.tag });
  } catch (error) {
    throw engineFailure(`tagging image ${o.id.slice(0, 19)} as ${reference}`, error);
  }
  let digest: string | undefined;
  try {
    // The engine wants an X-Registry-Auth header on every push: an anonymous one names the server only.
    const stream = await engine.getImage(reference).push({ authconfig: o.auth ?? { serveraddress: o.repository.split('/')[0]! } });
    const failure = await followEvents(engine, stream, (event) => {
      if (event.aux?.Digest && event.aux.Tag === o.tag) digest = event.aux.Digest;
    });
    if (failure !== undefined) throw registryFailed('REGISTRY_PUSH_FAILED', `pushing ${reference}`, failure, o.auth);
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    throw registryFailed('REGISTRY_PUSH_FAILED', `pushing ${reference}`, engineMessage(error), o.auth);
  } finally {
    // The registry's name stays off the engine: the image keeps slipway's own tags only.
    await engine.getImage(reference).remove({ noprune: true }).catch(() => undefined);
  }
  if (digest === undefined || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw registryFailed('REGISTRY_PUSH_FAILED', `pushing ${reference}`, 'the engine did not report the digest the registry gave it', o.auth);
  }
  return digest;
}

