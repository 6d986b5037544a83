/**
 * An environment's registry, as the engine sees it: where an app's images go, the login the
 * engine gets (credentials only from variables, never logged), tags, and the engine's progress
 * events of a push or pull. The digests a publish got are kept in the store
 * (src/store/registry-records.ts); pushing is src/host/push-images.ts, pulling src/host/pull-image.ts.
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
import type { EnvironmentConfig } from '../config/types.js';
import type { DockerClient } from './engine.js';
import { registerSecret, SlipwayError } from '../errors.js';

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
/** A release version or id as an image tag: Docker's tags take letters, digits, _ . - (a version's + becomes _). */
export function imageTag(value: string): string {
  return value.replace(/[^\w.-]/g, '_').slice(0, 128);
}

export function registryTag(releaseId: string, service: string, several: boolean): string {
  return imageTag(several ? `${releaseId}-${service}` : releaseId);
}

export interface ProgressEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Tag?: string; Digest?: string };
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
