/**
 * Request signing for the agent's management API. Client and agent share a
 * secret; each request carries a timestamp, a random nonce and
 *
 *   x-slipway-signature = hex(HMAC-SHA256(secret, method \n path \n timestamp \n nonce \n hex(sha256(body))))
 *
 * where path is the request target as sent (path and query string) and
 * timestamp is in Unix seconds. The agent accepts a timestamp within ±60 s of
 * its clock and each nonce once within that window, so a captured request
 * cannot be replayed. The secret itself never crosses the wire.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SlipwayError, registerSecret } from '../errors.js';

export const TIMESTAMP_HEADER = 'x-slipway-timestamp';
export const NONCE_HEADER = 'x-slipway-nonce';
export const SIGNATURE_HEADER = 'x-slipway-signature';
export const REPLAY_WINDOW_MS = 60_000;
/** shorter secrets are refused: they could be guessed offline from one captured request */
export const MIN_SECRET_LENGTH = 16;

export interface SignInput {
  secret: string;
  method: string;
  /** request target: path and query string, e.g. /v1/logs?lines=100 */
  path: string;
  /** Unix seconds (default: now) */
  timestamp?: number;
  body?: Buffer | string;
  /** default: 16 random bytes, hex */
  nonce?: string;
}

export type SignedHeaders = Record<typeof TIMESTAMP_HEADER | typeof NONCE_HEADER | typeof SIGNATURE_HEADER, string>;

export function signatureBase(input: { method: string; path: string; timestamp: string; nonce: string; body: Buffer | string }): string {
  const bodyHash = createHash('sha256').update(input.body).digest('hex');
  return `${input.method.toUpperCase()}\n${input.path}\n${input.timestamp}\n${input.nonce}\n${bodyHash}`;
}

export function signRequest(input: SignInput): SignedHeaders {
  const timestamp = String(input.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = input.nonce ?? randomBytes(16).toString('hex');
  const signature = createHmac('sha256', input.secret)
    .update(signatureBase({ method: input.method, path: input.path, timestamp, nonce, body: input.body ?? '' }))
    .digest('hex');
  return { [TIMESTAMP_HEADER]: timestamp, [NONCE_HEADER]: nonce, [SIGNATURE_HEADER]: signature };
}

/** Nonces seen within the replay window. Bounded: when full of live nonces it refuses new requests rather than forget one. */
export interface NonceCache {
  /** false when the nonce was already used (a replay) or the cache is full */
  remember(nonce: string, nowMs: number): boolean;
  readonly size: number;
}

export function createNonceCache(options: { windowMs?: number; maxEntries?: number } = {}): NonceCache {
  const windowMs = options.windowMs ?? REPLAY_WINDOW_MS;
  const maxEntries = options.maxEntries ?? 50_000;
  // Insertion order is expiry order (every entry lives the same time), so pruning stops at the first live one.
  const seen = new Map<string, number>();
  return {
    remember(nonce, nowMs) {
      for (const [key, expires] of seen) {
        if (expires > nowMs) break;
        seen.delete(key);
      }
      if (seen.has(nonce)) return false;
      if (seen.size >= maxEntries) return false;
      // A timestamp may be up to windowMs in the future: keep the nonce until it can no longer be valid.
      seen.set(nonce, nowMs + 2 * windowMs);
      return true;
    },
    get size() {
      return seen.size;
    },
  };
}

export interface VerifyInput {
  secret: string;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | string;
  nonces: NonceCache;
  /** default Date.now() */
  nowMs?: number;
  windowMs?: number;
}

export type VerifyResult = { ok: true } | { ok: false; reason: 'missing-signature' | 'malformed' | 'stale-timestamp' | 'bad-signature' | 'replayed' };

export function verifyRequest(input: VerifyInput): VerifyResult {
  const header = (name: string) => {
    const value = input.headers[name];
    return Array.isArray(value) ? undefined : value;
  };
  const timestamp = header(TIMESTAMP_HEADER);
  const nonce = header(NONCE_HEADER);
  const signature = header(SIGNATURE_HEADER);
  if (timestamp === undefined || nonce === undefined || signature === undefined) return { ok: false, reason: 'missing-signature' };
  if (!/^\d{1,12}$/.test(timestamp) || !/^[0-9A-Za-z_-]{16,128}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(signature)) return { ok: false, reason: 'malformed' };
  const nowMs = input.nowMs ?? Date.now();
  const windowMs = input.windowMs ?? REPLAY_WINDOW_MS;
  if (Math.abs(Number(timestamp) * 1000 - nowMs) > windowMs) return { ok: false, reason: 'stale-timestamp' };
  const expected = createHmac('sha256', input.secret)
    .update(signatureBase({ method: input.method, path: input.path, timestamp, nonce, body: input.body }))
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
