/**
 * Release content in a store, addressed by digest: every file content of every release
 * of an app is stored once, whatever release or path it belongs to. Contents travel in
 * packs (`<app>/objects/packs/<pack>.pack`, each entry raw or deflated) beside an index
 * (`<pack>.idx`, gzipped JSON: digest → offset, length, size, encoding), so a store
 * holds a few large objects rather than one per small file, and a reader fetches only
 * the byte ranges it lacks. A pack goes in before its index: a listed index always
 * names a complete pack.
 *
 * Nothing read from a store is trusted: an index only says where to look; each content
 * is checked against the digest the (verified) manifest gives before it is used.
 *
 * This module: the format, the index and collection; put-objects.ts writes packs,
 * read-objects.ts reads contents out of them.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { SlipwayError } from '../errors.js';
import type { BlobStore } from './blob-store.js';
import { ENCODING_DEFLATE, ENCODING_RAW, type Encoding } from '../util/encode-object.js';

export { ENCODING_DEFLATE, ENCODING_RAW, type Encoding };

/**
 * Below this size a content is (de)compressed on the calling thread: a trip through the
 * thread pool costs more than the work. Larger ones go to the pool, several at once.
 */
export const INLINE_ZLIB_BYTES = 128 * 1024;

/** Where one content lives in the store. */
export interface ObjectLocation {
  pack: string;
  offset: number;
  /** bytes stored (after compression) */
  length: number;
  /** bytes of the content itself */
  size: number;
  encoding: Encoding;
}

/** digest → where it is stored; the store's whole object catalog for one app. */
export type ObjectIndex = Map<string, ObjectLocation>;

export interface PackIndexFile {
  format: 1;
  createdAt: string;
  /** [sha256, offset, length, size, encoding] */
  objects: Array<[string, number, number, number, number]>;
}

export const packsPrefix = (app: string) => `${app}/objects/packs`;
export const packKey = (app: string, pack: string) => `${packsPrefix(app)}/${pack}.pack`;
export const indexKey = (app: string, pack: string) => `${packsPrefix(app)}/${pack}.idx`;
const PACK_NAME = /^[0-9a-f]{64}$/;
const DIGEST = /^[0-9a-f]{64}$/;
/** one content larger than this is refused (a hostile index, not a release) */
const MAX_OBJECT_BYTES = 8 * 1024 ** 3;

function damagedIndex(app: string, pack: string, why: string): SlipwayError {
  return new SlipwayError('STORE_INDEX_INVALID', `the pack index ${indexKey(app, pack)} is damaged: ${why}`, {
    hint: 'the store was changed outside slipway; publish the affected releases again (`slipway build`)',
  });
}

export interface PackIndex {
  createdAt: string | undefined;
  entries: Array<ObjectLocation & { digest: string }>;
}

/** Parses a pack index, refusing anything but well-formed entries. */
export function parsePackIndex(app: string, pack: string, bytes: Buffer): PackIndex {
  let parsed: PackIndexFile;
  try {
    parsed = JSON.parse(zlib.gunzipSync(bytes, { maxOutputLength: 256 * 1024 * 1024 }).toString('utf8')) as PackIndexFile;
  } catch (error) {
    throw damagedIndex(app, pack, (error as Error).message);
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.format !== 1 || !Array.isArray(parsed.objects)) throw damagedIndex(app, pack, 'unknown format');
  const out: PackIndex = { createdAt: typeof parsed.createdAt === 'string' ? parsed.createdAt : undefined, entries: [] };
  for (const entry of parsed.objects) {
    if (!Array.isArray(entry) || entry.length !== 5) throw damagedIndex(app, pack, 'an entry is not [digest, offset, length, size, encoding]');
    const [digest, offset, length, size, encoding] = entry;
    const count = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= MAX_OBJECT_BYTES * 4;
    if (typeof digest !== 'string' || !DIGEST.test(digest) || !count(offset) || !count(length) || !count(size) || (encoding !== 0 && encoding !== 1)) {
      throw damagedIndex(app, pack, `bad entry ${JSON.stringify(entry).slice(0, 120)}`);
    }
    if (length > MAX_OBJECT_BYTES || size > MAX_OBJECT_BYTES) throw damagedIndex(app, pack, `entry ${digest.slice(0, 12)} is larger than any release file`);
    out.entries.push({ digest, pack, offset, length, size, encoding: encoding as Encoding });
  }
  return out;
}

/** The packs of an app in the store (names only). */
export async function listPacks(store: BlobStore, app: string): Promise<string[]> {
  const keys = await store.list(packsPrefix(app));
  return keys
    .filter((key) => key.endsWith('.idx'))
    .map((key) => key.slice(packsPrefix(app).length + 1, -'.idx'.length))
    .filter((name) => PACK_NAME.test(name));
}

/**
 * Reads every pack index of the app. Indexes never change once written (a pack is
 * named by its digest), so `cacheDir`, when given, keeps copies and only new packs
 * cost a request.
 */
export async function loadObjectIndex(store: BlobStore, app: string, options: { cacheDir?: string } = {}): Promise<ObjectIndex> {
  const index: ObjectIndex = new Map();
  for (const pack of await listPacks(store, app)) {
    const bytes = await readIndexBytes(store, app, pack, options.cacheDir);
    if (!bytes) continue; // deleted since the listing (collected): its objects are gone
    for (const { digest, ...location } of parsePackIndex(app, pack, bytes).entries) {
      if (!index.has(digest)) index.set(digest, location);
    }
  }
  return index;
}

async function readIndexBytes(store: BlobStore, app: string, pack: string, cacheDir: string | undefined): Promise<Buffer | null> {
  // A copy is as good as the store's: every content read through it is checked against its digest anyway.
  const cached = cacheDir ? path.join(cacheDir, `${pack}.idx`) : null;
  if (cached) {
    const bytes = await fs.readFile(cached).catch(() => null);
    if (bytes) return bytes;
  }
  const bytes = await store.get(indexKey(app, pack));
  if (bytes && cached) {
    await fs.mkdir(cacheDir!, { recursive: true });
    const temp = `${cached}.${process.pid}.tmp`;
    await fs.writeFile(temp, bytes);
    await fs.rename(temp, cached);
  }
  return bytes;
}

export interface CollectResult {
  deletedPacks: number;
  freedBytes: number;
  /** bytes still held by packs that also hold unreferenced contents (not rewritten) */
  unreferencedBytesKept: number;
}

/**
 * Deletes the packs none of whose contents any kept release references. Packs younger
 * than `graceMs` are kept whatever they hold: a publish that is under way has put its
 * pack before its manifest, and must find it still there.
 */
export async function collectObjects(store: BlobStore, app: string, referenced: ReadonlySet<string>, options: { graceMs: number; now?: Date; dryRun?: boolean }): Promise<CollectResult> {
  const now = (options.now ?? new Date()).getTime();
  const result: CollectResult = { deletedPacks: 0, freedBytes: 0, unreferencedBytesKept: 0 };
  for (const pack of await listPacks(store, app)) {
    const bytes = await store.get(indexKey(app, pack));
    if (!bytes) continue;
    const { createdAt, entries } = parsePackIndex(app, pack, bytes);
    const created = createdAt ? Date.parse(createdAt) : Number.NaN;
    if (!Number.isNaN(created) && now - created < options.graceMs) continue;
    let live = false;
    let packBytes = 0;
    let deadBytes = 0;
    for (const { digest, ...entry } of entries) {
      packBytes += entry.length;
      if (referenced.has(digest)) live = true;
      else deadBytes += entry.length;
    }
    if (live) {
      result.unreferencedBytesKept += deadBytes;
      continue;
    }
    if (!options.dryRun) {
      // Index first: a reader never finds an index whose pack is gone.
      await store.delete(indexKey(app, pack));
      await store.delete(packKey(app, pack));
    }
    result.deletedPacks += 1;
    result.freedBytes += packBytes;
  }
  return result;
}
