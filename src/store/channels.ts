import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import { checkBytesSignature, signatureSchema, signBytes, type ReleaseSignature } from '../release/sign.js';
import type { BlobStore, ConditionalGetResult } from './blob-store.js';

/** The desired state of an environment: which release should run there, and who said so. */
export interface ChannelPointer {
  environment: string;
  releaseId: string;
  version: string;
  who: string;
  when: string;
  why: string;
  /** one more than the counter of the pointer this one replaced (pointers written before counters have none) */
  counter?: number;
  /** after this time (ISO) an agent refuses the pointer */
  expires?: string;
  /** ed25519 signature of pointerSignedText by the project key */
  signature?: ReleaseSignature;
  /**
   * History entries of a promote only: the run in the source environment the release was
   * tested in. Not in the pointer agents read (agents of earlier versions refuse unknown
   * fields), and not signed: it is evidence for people, not an order to agents.
   */
  tested?: TestedRun;
}

/** The run a promoted release was tested in: where, when its health window passed, on which data. */
export interface TestedRun {
  environment: string;
  /** when its deployment there finished (the latest host's), its health window included */
  at: string | null;
  /** every host of the source deployed it successfully (health window passed) and reports it healthy */
  healthWindowPassed: boolean;
  hosts: Array<{ host: string; deploymentId: number | null; outcome: string | null; finishedAt: string | null; health: string }>;
  /** the data it ran on: the source's newest successful data copy (null: none known, e.g. the source is on another server) */
  dataCopy: { from: string | null; backupId: string; backupCreatedAt: string; copiedAt: string | null; ageSeconds: number; scrubbed: boolean } | null;
}

/** A pointer is a few hundred bytes; anything past this is refused unread. */
export const MAX_POINTER_BYTES = 64 * 1024;

/** TestedRun as a history entry (and the management API) carries it. */
export const testedRunSchema = z.object({
  environment: z.string(),
  at: z.string().nullable(),
  healthWindowPassed: z.boolean(),
  hosts: z.array(z.object({ host: z.string(), deploymentId: z.number().nullable(), outcome: z.string().nullable(), finishedAt: z.string().nullable(), health: z.string() })),
  dataCopy: z
    .object({ from: z.string().nullable(), backupId: z.string(), backupCreatedAt: z.string(), copiedAt: z.string().nullable(), ageSeconds: z.number(), scrubbed: z.boolean() })
    .nullable(),
});

const isoTime = z.string().refine((v) => Number.isFinite(Date.parse(v)), 'not a time');

const channelPointerSchema = z
  .object({
    environment: z.string().min(1),
    releaseId: z.string().regex(/^[0-9a-f]{64}$/),
    version: z.string().min(1),
    who: z.string(),
    when: z.string(),
    why: z.string(),
    counter: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    expires: isoTime.optional(),
    signature: signatureSchema.optional(),
    tested: testedRunSchema.optional(),
  })
  .strict();

export function parseChannelPointer(bytes: Buffer | string, source: string): ChannelPointer {
  if (Buffer.byteLength(bytes) > MAX_POINTER_BYTES) throw pointerTooLarge(source);
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

/** Reads a pointer (or a history entry) without downloading more than MAX_POINTER_BYTES: a larger one is CHANNEL_CORRUPT. */
async function getPointerBytes<T>(key: string, read: (options: { maxBytes: number }) => Promise<T>): Promise<T> {
  try {
    return await read({ maxBytes: MAX_POINTER_BYTES });
  } catch (error) {
    if ((error as { code?: string }).code === 'STORE_OBJECT_TOO_LARGE') throw pointerTooLarge(key);
    throw error;
  }
}

export async function readChannel(store: BlobStore, app: string, env: string): Promise<ChannelPointer | null> {
  const bytes = await getPointerBytes(pointerKey(app, env), (o) => store.get(pointerKey(app, env), o));
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
    result = await getPointerBytes(key, (o) => store.getIfChanged!(key, known, o));
  } else {
    const bytes = await getPointerBytes(key, (o) => store.get(key, o));
    const contentTag = bytes ? `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"` : null;
    result = bytes === null ? null : contentTag === known ? { notModified: true } : { notModified: false, body: bytes, etag: contentTag! };
  }
  if (result === null) return etag === MISSING_TAG ? { changed: false } : { changed: true, pointer: null, etag: MISSING_TAG };
  if (result.notModified) return { changed: false };
  return { changed: true, pointer: parseChannelPointer(result.body, key), etag: result.etag };
}

function pointerTooLarge(source: string): SlipwayError {
  return new SlipwayError('CHANNEL_CORRUPT', `channel pointer ${source} is larger than ${MAX_POINTER_BYTES} bytes; refused unread`, {
    hint: 'set it again with `slipway channel set <env> <version>`',
  });
}

/**
 * The exact bytes a pointer's signature covers: a fixed first line, then the app and every
 * field but the signature, as a JSON array.
 */
export function pointerSignedText(app: string, p: ChannelPointer): Buffer {
  const fields = [app, p.environment, p.releaseId, p.version, p.counter ?? null, p.when, p.expires ?? null, p.who, p.why];
  return Buffer.from(`slipway channel pointer v1\n${JSON.stringify(fields)}\n`, 'utf8');
}

/**
 * The counter a new pointer follows: the highest of the current pointer's and the newest
 * history entry's (so an old pointer put back in the store does not pull the counter down);
 * 0 when the channel has neither.
 */
async function lastCounter(store: BlobStore, app: string, env: string): Promise<number> {
  const counterOf = async (key: string): Promise<number> => {
    try {
      const bytes = await getPointerBytes(key, (o) => store.get(key, o));
      return bytes ? (parseChannelPointer(bytes, key).counter ?? 0) : 0;
    } catch {
      return 0; // a damaged entry counts for nothing; the other one still does
    }
  };
  const newest = (await store.list(historyPrefix(app, env))).at(-1);
  return Math.max(await counterOf(pointerKey(app, env)), newest ? await counterOf(newest) : 0);
}

/**
 * The staging run a pointer's release was tested in, from its history entry (`promote` writes it
 * there, not in the pointer agents read); null when the move was no promote, or no entry matches.
 */
export async function testedRunOf(store: BlobStore, app: string, pointer: ChannelPointer): Promise<TestedRun | null> {
  if (pointer.counter === undefined) return null;
  const suffix = `-c${pointer.counter}-${pointer.releaseId.slice(0, 12)}-`;
  // Newest first: the matching entry is the last or near it (another move may have followed).
  const keys = (await store.list(historyPrefix(app, pointer.environment))).filter((key) => key.includes(suffix)).reverse();
  for (const key of keys.slice(0, 3)) {
    try {
      const bytes = await getPointerBytes(key, (o) => store.get(key, o));
      const entry = bytes ? parseChannelPointer(bytes, key) : null;
      if (entry?.tested) return entry.tested;
    } catch {
      // a damaged entry says nothing about the run
    }
  }
  return null;
}

/** A history entry's name: its time (so that listing sorts by time), its counter, the release, a random tail. */
const ENTRY_NAME = /-c(\d+)-[0-9a-f]{12}-[0-9a-f]{6}\.json$/;
const MAX_WRITE_ATTEMPTS = 10;

/**
 * Moves the channel pointer: its counter is one more than the last pointer's, and it is
 * signed with `signingKeyPem` when given. History is append-only: one object per move,
 * named so that listing sorts by time, written before the pointer moves. Returns the
 * pointer as written.
 *
 * A counter is never given to two pointers. Two commands moving the channel at the same
 * moment can read the same last counter; so each, after writing its history entry, looks
 * for another entry with the same counter, and if there is one it takes its entry back
 * and tries again with a higher counter (after a random wait). Of two such writers, the one
 * that checks later always sees the other's entry, so at most one of them keeps a counter.
 */
export async function writeChannel(store: BlobStore, app: string, pointer: ChannelPointer, options: { signingKeyPem?: string; tested?: TestedRun } = {}): Promise<ChannelPointer> {
  const { signature: _old, tested: _tested, ...fields } = pointer;
  const prefix = historyPrefix(app, pointer.environment);
  const stamp = pointer.when.replace(/[:.]/g, '-');
  let tried = 0;
  for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt += 1) {
    const counter = Math.max((await lastCounter(store, app, pointer.environment)) + 1, tried + 1);
    if (!Number.isSafeInteger(counter)) throw counterExhausted(pointer.environment);
    tried = counter;
    const unsigned: ChannelPointer = { ...fields, counter };
    const written: ChannelPointer = options.signingKeyPem ? { ...unsigned, signature: signBytes(pointerSignedText(app, unsigned), options.signingKeyPem) } : unsigned;
    const body = `${JSON.stringify(written, null, 2)}\n`;
    const entryBody = options.tested ? `${JSON.stringify({ ...written, tested: options.tested }, null, 2)}\n` : body;
    // The random tail keeps two moves in the same millisecond from overwriting each other's entry.
    const entry = `${prefix}/${stamp}-c${counter}-${pointer.releaseId.slice(0, 12)}-${randomBytes(3).toString('hex')}.json`;
    await store.put(entry, entryBody);
    const rivals = (await store.list(prefix)).filter((key) => key !== entry && Number(ENTRY_NAME.exec(key)?.[1]) === counter);
    if (rivals.length === 0) {
      await store.put(pointerKey(app, pointer.environment), body);
      return options.tested ? { ...written, tested: options.tested } : written;
    }
    await store.delete(entry);
    // Two writers that saw each other both give up: random, growing waits keep them from meeting again.
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 25 * 2 ** attempt)));
  }
  throw new SlipwayError('CHANNEL_BUSY', `the channel of ${pointer.environment} is being moved by other commands at the same moment; it was not moved to ${pointer.version}`, {
    hint: 'wait for the other publish, promote or channel set to finish, then run this one again',
  });
}

/** Only a pointer written by someone else can claim the largest counter: slipway counts one at a time. */
function counterExhausted(env: string): SlipwayError {
  return new SlipwayError('CHANNEL_COUNTER_EXHAUSTED', `the channel of ${env} claims the largest counter there is (${Number.MAX_SAFE_INTEGER}); no pointer can follow it, so the channel was not moved`, {
    hint: `something other than slipway wrote the pointer or a history entry of ${env}: remove it from the store (\`slipway channel history ${env}\` shows the moves) and check who else writes there`,
  });
}

/** What an agent requires of the pointers it follows. */
export interface PointerPolicy {
  /** the environment's require_signature: refuse unsigned pointers */
  required: boolean;
  publicKeysPem: string[];
}

/**
 * Throws unless an agent of `env` may act on `pointer`: it names `env`; it has not expired;
 * its counter is not lower than the last one this host accepted; and, when signatures are
 * required, it carries a valid signature by a trusted key. Each refusal has its own code.
 */
export function checkChannelPointer(o: { app: string; env: string; pointer: ChannelPointer; policy: PointerPolicy; lastAcceptedCounter: number | null; now?: Date }): void {
  const { pointer, env } = o;
  const what = `the channel pointer of ${env} (${pointer.version}, counter ${pointer.counter ?? 'none'})`;
  const hint = `set the channel again with \`slipway channel set ${env} <version>\` (signed with the project key)`;
  if (pointer.environment !== env) {
    throw new SlipwayError('CHANNEL_POINTER_WRONG_ENVIRONMENT', `${what} is a pointer for ${JSON.stringify(pointer.environment)}, not for ${JSON.stringify(env)}; refused`, { hint });
  }
  if (o.policy.required) {
    if (!pointer.signature) throw new SlipwayError('CHANNEL_POINTER_UNSIGNED', `${what} is not signed, and ${env} requires signatures; refused`, { hint });
    const result = checkBytesSignature(pointerSignedText(o.app, pointer), pointer.signature, o.policy.publicKeysPem);
    if (result !== 'ok') {
      throw new SlipwayError(
        'CHANNEL_POINTER_SIGNATURE_INVALID',
        result === 'unknown-key' ? `${what} is signed by key ${pointer.signature.keyId}, which ${env} does not trust; refused` : `the signature of ${what} does not verify; refused`,
        { hint },
      );
    }
  }
  if (o.lastAcceptedCounter !== null && (pointer.counter ?? 0) < o.lastAcceptedCounter) {
    throw new SlipwayError('CHANNEL_POINTER_REPLAYED', `${what} is older than the last pointer this host accepted (counter ${o.lastAcceptedCounter}); refused as a replay`, { hint });
  }
  if (pointer.expires !== undefined && Date.parse(pointer.expires) <= (o.now ?? new Date()).getTime()) {
    throw new SlipwayError('CHANNEL_POINTER_EXPIRED', `${what} expired at ${pointer.expires}; refused`, { hint: `${hint}; give it a later --expires, or none` });
  }
}

/** Every move of the channel, oldest first. */
export async function channelHistory(store: BlobStore, app: string, env: string): Promise<ChannelPointer[]> {
  const keys = await store.list(historyPrefix(app, env));
  const out: ChannelPointer[] = [];
  for (const key of keys) {
    const bytes = await getPointerBytes(key, (o) => store.get(key, o));
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
    const bytes = await getPointerBytes(key, (o) => store.get(key, o));
    if (bytes) out.push(parseChannelPointer(bytes, key));
  }
  return out;
}
