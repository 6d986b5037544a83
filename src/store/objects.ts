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

/** Parses a pack index (gzipped, as stored), refusing anything but well-formed entries. */
export function parsePackIndex(app: string, pack: string, bytes: Buffer): PackIndex {
  return parsePackIndexText(app, pack, gunzipIndex(app, pack, bytes));
}

function gunzipIndex(app: string, pack: string, bytes: Buffer): string {
  try {
    return zlib.gunzipSync(bytes, { maxOutputLength: 256 * 1024 * 1024 }).toString('utf8');
  } catch (error) {
    throw damagedIndex(app, pack, (error as Error).message);
  }
}

function parsePackIndexText(app: string, pack: string, text: string): PackIndex {
  let parsed: PackIndexFile;
  try {
    parsed = JSON.parse(text) as PackIndexFile;
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

/** Up to this many wanted contents, an index is searched for their digests before it is parsed. */
const FEW_WANTED = 64;

/**
 * Reads the pack indexes of the app. Indexes never change once written (a pack is named
 * by its digest), so `cacheDir`, when given, keeps copies (as JSON, unzipped) and only new
 * packs cost a request. With `only` (a few digests: a one-file release), an index that
 * does not hold one of them is not parsed (the first release's index lists every file, and
 * takes a tenth of a second to parse), and the reading stops once all are found: the index
 * answered then may lack everything else.
 */
export async function loadObjectIndex(store: BlobStore, app: string, options: { cacheDir?: string; only?: readonly string[] } = {}): Promise<ObjectIndex> {
  const index: ObjectIndex = new Map();
  const missing = options.only && options.only.length <= FEW_WANTED ? new Set(options.only) : null;
  const skipped: Array<[pack: string, text: string]> = [];
  const add = (pack: string, text: string) => {
    for (const { digest, ...location } of parsePackIndexText(app, pack, text).entries) {
      if (!index.has(digest)) index.set(digest, location);
      missing?.delete(digest);
    }
  };
  for (const pack of await listPacks(store, app)) {
    if (missing?.size === 0) break;
    const text = await readIndexText(store, app, pack, options.cacheDir);
    if (text === null) continue; // deleted since the listing (collected): its objects are gone
    // A digest is written in an index as itself (JSON of lowercase hex): an index without its text lacks it.
    if (missing && ![...missing].some((digest) => text.includes(digest))) skipped.push([pack, text]);
    else add(pack, text);
  }
  // Something not found: the indexes passed over are parsed after all, so that a damaged one is named as such.
  if (missing !== null && missing.size > 0) for (const [pack, text] of skipped) add(pack, text);
  return index;
}

async function readIndexText(store: BlobStore, app: string, pack: string, cacheDir: string | undefined): Promise<string | null> {
  // A copy is as good as the store's: every content read through it is checked against its digest anyway.
  const cached = cacheDir ? path.join(cacheDir, `${pack}.idx.json`) : null;
  if (cached) {
    const text = await fs.readFile(cached, 'utf8').catch(() => null);
    if (text !== null) return text;
  }
  // Copies kept before were gzipped, as stored: one is read rather than fetched, then replaced.
  const older = cacheDir ? path.join(cacheDir, `${pack}.idx`) : null;
  const bytes = (older ? await fs.readFile(older).catch(() => null) : null) ?? (await store.get(indexKey(app, pack)));
  if (!bytes) return null;
  const text = gunzipIndex(app, pack, bytes);
  if (cached) {
    await fs.mkdir(cacheDir!, { recursive: true });
    const temp = `${cached}.${process.pid}.tmp`;
    await fs.writeFile(temp, text);
    await fs.rename(temp, cached);
    await fs.rm(older!, { force: true });
  }
  return text;
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
