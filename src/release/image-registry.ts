/**
 * Container images through an environment's registry: pushed at `slipway publish`, pulled by
 * digest on the hosts (src/host/pull-image.ts).
 *
 * Where the digest lives, and why the release id still pins every byte: the manifest pins each
 * image by its id (the sha256 of its config, which lists the sha256 of every uncompressed layer),
 * so the release id and its signature cover the image whatever carries it. The registry's
 * manifest digest is only an address: it depends on how the layers were compressed for that
 * registry, and one release may be published to environments with different registries (or
 * none), so putting it in the manifest would give one commit several release ids. It is kept
 * beside the release in the store instead (`<app>/registry/<release id>/<repository hash>.json`),
 * unsigned; a host pulls `<repository>@<digest>` and refuses the image unless its id is the
 * manifest's. A wrong or tampered digest can only make a deploy refuse, never run other bytes.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EnvironmentConfig } from '../config/types.js';
import { connectEngine, engineFailure, type DockerClient } from '../container/engine.js';
import { registerSecret, SlipwayError } from '../errors.js';
import type { ReleaseManifest } from './manifest.js';
import { imageTag } from './image-build.js';
import type { BlobStore } from '../store/blob-store.js';
import { readReleaseManifest } from '../store/releases.js';

export type RegistryConfig = NonNullable<EnvironmentConfig['registry']>;

/** What the engine gets to log in to the registry: absent when the registry takes anonymous pushes and pulls. */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/** Where the digests a publish got from a registry are kept: the image id → manifest digest. */
export interface RegistryRecord {
  repository: string;
  images: Record<string, string>;
}

const recordSchema = z.strictObject({
  repository: z.string(),
  images: z.record(z.string().regex(/^sha256:[0-9a-f]{64}$/), z.string().regex(/^sha256:[0-9a-f]{64}$/)),
});

/** The repository an app's images go to: `<url>/<app>`. */
export function registryRepository(registry: RegistryConfig, app: string): string {
  return `${registry.url}/${app}`;
}

/** The registry's host[:port]: what the engine logs in to. */
export function registryHost(registry: RegistryConfig): string {
  return registry.url.split('/')[0]!;
}

/**
 * The credentials from the variables the environment names; a clear error naming the variable
 * (never a value) when one is unset. Undefined for a registry without credentials.
 */
export function registryAuth(registry: RegistryConfig, env: NodeJS.ProcessEnv = process.env): RegistryAuth | undefined {
  if (registry.usernameEnv === undefined || registry.passwordEnv === undefined) return undefined;
  const username = env[registry.usernameEnv];
  const password = env[registry.passwordEnv];
  const unset = [[registry.usernameEnv, username] as const, [registry.passwordEnv, password] as const].filter(([, value]) => value === undefined || value === '').map(([name]) => name);
  if (unset.length > 0) {
    throw new SlipwayError('REGISTRY_CREDENTIALS_MISSING', `the registry ${registryHost(registry)} needs credentials from ${unset.join(' and ')}, which ${unset.length > 1 ? 'are' : 'is'} not set; refused, nothing was changed`, {
      hint: `set ${unset.join(' and ')} in the environment of the machine that publishes and of the host's agent (the host's env file), then try again`,
      exitCode: 2,
    });
  }
  const auth = { username: username!, password: password!, serveraddress: registryHost(registry) };
  // Every error and log line slipway writes has these taken out, whatever module writes it.
  for (const form of credentialForms(auth)) registerSecret(form);
  return auth;
}

/** The password as such and in the base64 forms the engine and HTTP carry it in. */
function credentialForms(auth: RegistryAuth): string[] {
  return [auth.password, Buffer.from(`${auth.username}:${auth.password}`).toString('base64'), Buffer.from(JSON.stringify(auth)).toString('base64')];
}

/** A message from the engine or the registry with the credentials taken out, whatever form they appear in. */
export function redactCredentials(text: string, auth: RegistryAuth | undefined): string {
  if (!auth) return text;
  let out = text;
  for (const form of credentialForms(auth)) if (form.length >= 4) out = out.split(form).join('***');
  return out;
}

/** The tag an image of a release gets in the registry: the release id; with several images, the release id and the first service running it. */
export function registryTag(releaseId: string, service: string, several: boolean): string {
  return imageTag(several ? `${releaseId}-${service}` : releaseId);
}

function recordKey(app: string, releaseId: string, repository: string): string {
  const hash = createHash('sha256').update(repository).digest('hex').slice(0, 16);
  return `${app}/registry/${releaseId}/${hash}.json`;
}

/** The digests published for a release to a repository, or null when it was never pushed there (or the record is not slipway's). */
export async function readRegistryRecord(store: BlobStore, app: string, releaseId: string, repository: string): Promise<RegistryRecord | null> {
  const body = await store.get(recordKey(app, releaseId, repository), { maxBytes: 64 * 1024 });
  if (body === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  const record = recordSchema.safeParse(parsed);
  return record.success && record.data.repository === repository ? record.data : null;
}

async function writeRegistryRecord(store: BlobStore, app: string, releaseId: string, record: RegistryRecord): Promise<void> {
  await store.put(recordKey(app, releaseId, record.repository), `${JSON.stringify(record, null, 2)}\n`);
}

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
  // Loaded here: the host module reads this one's records, and a process-only publish never needs it.
  const { installReleaseImages } = await import('../host/install-image.js');
  await installReleaseImages({ store: o.store, app: o.app, releaseId: o.releaseId, manifest });
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

interface ProgressEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Tag?: string; Digest?: string };
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

/** Reads a push or pull's progress to its end; the error it reported, if any. */
export async function followEvents(engine: DockerClient, stream: NodeJS.ReadableStream, onEvent: (event: ProgressEvent) => void): Promise<string | undefined> {
  let failure: string | undefined;
  await new Promise<void>((resolve, reject) => {
    engine.modem.followProgress(
      stream,
      (error) => (error ? reject(error) : resolve()),
      (event: ProgressEvent) => {
        if (event.error !== undefined) failure = event.errorDetail?.message ?? event.error;
        onEvent(event);
      },
    );
  });
  return failure;
}

export function engineMessage(error: unknown): string {
  const err = error as { json?: { message?: string }; message?: string };
  return (err.json?.message ?? err.message ?? String(error)).trim();
}

/** A registry operation that failed: the engine's words (credentials taken out), no cause kept (it may carry the login). */
export function registryFailed(code: string, doing: string, why: string, auth: RegistryAuth | undefined, hint?: string): SlipwayError {
  return new SlipwayError(code, `${doing}: ${redactCredentials(why, auth)}`, {
    hint: hint ?? 'check that the registry answers (`curl http://<registry>/v2/`) and that the credentials the environment names are right, then try again',
  });
}
