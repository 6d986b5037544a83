import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import type { BlobStore, ConditionalGetResult } from './blob-store.js';

/** The desired state of an environment: which release should run there, and who said so. */
export interface ChannelPointer {
  environment: string;
  releaseId: string;
  version: string;
  who: string;
  when: string;
  why: string;
}

const channelPointerSchema = z
  .object({
    environment: z.string().min(1),
    releaseId: z.string().regex(/^[0-9a-f]{64}$/),
    version: z.string().min(1),
    who: z.string(),
    when: z.string(),
    why: z.string(),
  })
  .strict();

export function parseChannelPointer(bytes: Buffer | string, source: string): ChannelPointer {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString());
  } catch {
    throw new SlipwayError('CHANNEL_CORRUPT', `channel pointer ${source} is not valid JSON`, {
      hint: 'set it again with `slipway channel set <env> <version>`',
    });
  }
  const parsed = channelPointerSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new SlipwayError('CHANNEL_CORRUPT', `channel pointer ${source} is malformed: ${first?.path.join('.') || '(root)'}: ${first?.message}`, {
      hint: 'set it again with `slipway channel set <env> <version>`',
    });
  }
  return parsed.data;
}

const pointerKey = (app: string, env: string) => `${app}/channels/${env}.json`;
const historyPrefix = (app: string, env: string) => `${app}/channels/${env}/history`;

export async function readChannel(store: BlobStore, app: string, env: string): Promise<ChannelPointer | null> {
  const bytes = await store.get(pointerKey(app, env));
  return bytes ? parseChannelPointer(bytes, pointerKey(app, env)) : null;
}

export type ChannelRead = { changed: false } | { changed: true; pointer: ChannelPointer | null; etag: string };

/** The tag of a pointer that does not exist (yet): no real ETag looks like this. */
const MISSING_TAG = 'missing';

/**
 * Reads the pointer only if it changed since `etag` (null: never read). An
 * unchanged pointer costs one small conditional request. Stores without
 * conditional reads fall back to a plain read compared by content.
 */
export async function readChannelIfChanged(store: BlobStore, app: string, env: string, etag: string | null): Promise<ChannelRead> {
  const key = pointerKey(app, env);
  const known = etag === MISSING_TAG ? null : etag;
  let result: ConditionalGetResult | null;
  if (store.getIfChanged) {
    result = await store.getIfChanged(key, known);
  } else {
    const bytes = await store.get(key);
    const contentTag = bytes ? `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"` : null;
    result = bytes === null ? null : contentTag === known ? { notModified: true } : { notModified: false, body: bytes, etag: contentTag! };
  }
  if (result === null) return etag === MISSING_TAG ? { changed: false } : { changed: true, pointer: null, etag: MISSING_TAG };
  if (result.notModified) return { changed: false };
  return { changed: true, pointer: parseChannelPointer(result.body, key), etag: result.etag };
}

/**
 * Moves the channel pointer. History is append-only: one object per move,
 * named so that listing sorts by time, written before the pointer moves.
 */
export async function writeChannel(store: BlobStore, app: string, pointer: ChannelPointer): Promise<void> {
  const body = `${JSON.stringify(pointer, null, 2)}\n`;
  const stamp = pointer.when.replace(/[:.]/g, '-');
  // The random tail keeps two moves in the same millisecond from overwriting each other's entry.
  await store.put(`${historyPrefix(app, pointer.environment)}/${stamp}-${pointer.releaseId.slice(0, 12)}-${randomBytes(3).toString('hex')}.json`, body);
  await store.put(pointerKey(app, pointer.environment), body);
}

/** Every move of the channel, oldest first. */
export async function channelHistory(store: BlobStore, app: string, env: string): Promise<ChannelPointer[]> {
  const keys = await store.list(historyPrefix(app, env));
  const out: ChannelPointer[] = [];
  for (const key of keys) {
    const bytes = await store.get(key);
    if (bytes) out.push(parseChannelPointer(bytes, key));
  }
  return out;
}

/** The current pointer of every environment that has one in this store. */
export async function listChannelPointers(store: BlobStore, app: string): Promise<ChannelPointer[]> {
  const prefix = `${app}/channels/`;
  const out: ChannelPointer[] = [];
  for (const key of await store.list(`${app}/channels`)) {
    const rest = key.slice(prefix.length);
    if (rest.includes('/') || !rest.endsWith('.json')) continue; // history entries live in folders
    const bytes = await store.get(key);
    if (bytes) out.push(parseChannelPointer(bytes, key));
  }
  return out;
}
