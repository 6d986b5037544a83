/**
 * Request signing for the agent's management API. Client and agent share a
 * secret; each request carries a timestamp, a random nonce, the environment and
 * the host (the agent's host name) it is meant for, and
 *
 *   x-slipway-signature = hex(HMAC-SHA256(secret, "slipway management v2" \n method \n path \n
 *                         Host header \n environment \n host \n timestamp \n nonce \n hex(sha256(body))))
 *
 * where path is the request target as sent (path and query string), the Host
 * header is the one the client sends, and timestamp is in Unix seconds. The
 * agent accepts only requests naming its own environment and host, a timestamp
 * within ±60 s of its clock, and each nonce once within that window; the nonces
 * it has seen outlive a restart (management-nonces.ts). So a captured request
 * can be replayed neither to another agent sharing the secret nor to the same
 * agent later. The secret itself never crosses the wire.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import os from 'node:os';
import type { EnvironmentConfig } from '../config/types.js';
import { SlipwayError, registerSecret } from '../errors.js';
import { REPLAY_WINDOW_MS, type NonceCache } from './management-nonces.js';

export { REPLAY_WINDOW_MS, createNonceCache, openNonceFile, type NonceCache } from './management-nonces.js';

export const TIMESTAMP_HEADER = 'x-slipway-timestamp';
export const NONCE_HEADER = 'x-slipway-nonce';
export const SIGNATURE_HEADER = 'x-slipway-signature';
export const ENVIRONMENT_HEADER = 'x-slipway-environment';
export const HOST_NAME_HEADER = 'x-slipway-host';
/** the first line of every signed text: a request signed the old way (without environment and host) never verifies */
const SIGNED_TEXT_VERSION = 'slipway management v2';
/** shorter secrets are refused: they could be guessed offline from one captured request */
export const MIN_SECRET_LENGTH = 16;

export interface SignInput {
  secret: string;
  method: string;
  /** request target: path and query string, e.g. /v1/logs?lines=100 */
  path: string;
  /** the Host header the request will carry (the URL's host: name or address, and the port unless it is the default) */
  hostHeader: string;
  /** the environment the request is meant for */
  environment: string;
  /** the host name of the agent it is meant for (managementHostName) */
  host: string;
  /** Unix seconds (default: now) */
  timestamp?: number;
  body?: Buffer | string;
  /** default: 16 random bytes, hex */
  nonce?: string;
}

export type SignedHeaders = Record<
  typeof TIMESTAMP_HEADER | typeof NONCE_HEADER | typeof SIGNATURE_HEADER | typeof ENVIRONMENT_HEADER | typeof HOST_NAME_HEADER,
  string
>;

export interface SignedFields {
  method: string;
  path: string;
  hostHeader: string;
  environment: string;
  host: string;
  timestamp: string;
  nonce: string;
  body: Buffer | string;
}

export function signatureBase(input: SignedFields): string {
  const bodyHash = createHash('sha256').update(input.body).digest('hex');
  // JSON strings: a newline in a header value cannot shift one field into the next.
  const text = (value: string) => JSON.stringify(value);
  return [SIGNED_TEXT_VERSION, input.method.toUpperCase(), text(input.path), text(input.hostHeader), text(input.environment), text(input.host), input.timestamp, input.nonce, bodyHash].join('\n');
}

export function signRequest(input: SignInput): SignedHeaders {
  const timestamp = String(input.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = input.nonce ?? randomBytes(16).toString('hex');
  const signature = createHmac('sha256', input.secret)
    .update(signatureBase({ ...input, timestamp, nonce, body: input.body ?? '' }))
    .digest('hex');
  return {
    [TIMESTAMP_HEADER]: timestamp,
    [NONCE_HEADER]: nonce,
    [SIGNATURE_HEADER]: signature,
    [ENVIRONMENT_HEADER]: input.environment,
    [HOST_NAME_HEADER]: input.host,
  };
}

/**
 * The host name an environment's agent answers to: the name it reports under (the
 * environment's `hostname`, else the machine's name) for a local environment, the
 * first host's name for a remote one (its agent's project file names it so).
 */
export function managementHostName(environment: Pick<EnvironmentConfig, 'hosts' | 'hostname'>): string {
  return environment.hosts[0]?.name ?? environment.hostname ?? os.hostname();
}

export interface VerifyInput {
  secret: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | string;
  nonces: NonceCache;
  /** the agent's own environment and host name: a request signed for others is refused */
  environment: string;
  host: string;
  /** default Date.now() */
  nowMs?: number;
  windowMs?: number;
}

export type RefusalReason = 'missing-signature' | 'malformed' | 'wrong-environment' | 'wrong-host' | 'stale-timestamp' | 'bad-signature' | 'replayed';
export type VerifyResult = { ok: true } | { ok: false; reason: RefusalReason };

export function verifyRequest(input: VerifyInput): VerifyResult {
  const header = (name: string) => {
    const value = input.headers[name];
    return Array.isArray(value) ? undefined : value;
  };
  const timestamp = header(TIMESTAMP_HEADER);
  const nonce = header(NONCE_HEADER);
  const signature = header(SIGNATURE_HEADER);
  const environment = header(ENVIRONMENT_HEADER);
  const host = header(HOST_NAME_HEADER);
  if (timestamp === undefined || nonce === undefined || signature === undefined || environment === undefined || host === undefined) return { ok: false, reason: 'missing-signature' };
  if (!/^\d{1,12}$/.test(timestamp) || !/^[0-9A-Za-z_-]{16,128}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(signature)) return { ok: false, reason: 'malformed' };
  // Named before the signature is checked: the refusal says why, and a stranger learns nothing the dashboard's title does not show.
  if (environment !== input.environment) return { ok: false, reason: 'wrong-environment' };
  if (host !== input.host) return { ok: false, reason: 'wrong-host' };
  const nowMs = input.nowMs ?? Date.now();
  const windowMs = input.windowMs ?? REPLAY_WINDOW_MS;
  if (Math.abs(Number(timestamp) * 1000 - nowMs) > windowMs) return { ok: false, reason: 'stale-timestamp' };
  const expected = createHmac('sha256', input.secret)
    .update(signatureBase({ method: input.method, path: input.path, hostHeader: header('host') ?? '', environment, host, timestamp, nonce, body: input.body }))
    .digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: false, reason: 'bad-signature' };
  // Only a correctly signed request may use up a nonce, so strangers cannot fill the cache.
  if (!input.nonces.remember(nonce, nowMs)) return { ok: false, reason: 'replayed' };
  return { ok: true };
}

/**
 * The shared secret of an environment's management API, from the variable
 * named by management.secret_env. Registered for redaction.
 */
export function readManagementSecret(options: { secretEnv: string; environment: string }, env: NodeJS.ProcessEnv = process.env): string {
  const secret = env[options.secretEnv];
  if (!secret) {
    throw new SlipwayError('MANAGEMENT_SECRET_MISSING', `the management API of ${options.environment} needs a shared secret in $${options.secretEnv}, which is not set`, {
      exitCode: 2,
      hint: `set ${options.secretEnv} to a long random value (e.g. \`openssl rand -hex 32\`) for the agent and for the CLI`,
    });
  }
  registerSecret(secret);
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new SlipwayError('MANAGEMENT_SECRET_WEAK', `$${options.secretEnv} is too short for a management secret (${secret.length} characters, at least ${MIN_SECRET_LENGTH} needed)`, {
      exitCode: 2,
      hint: 'use a long random value, e.g. `openssl rand -hex 32`',
    });
  }
  return secret;
}
