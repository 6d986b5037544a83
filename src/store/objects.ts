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
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, promises as fs, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { SlipwayError } from '../errors.js';
import type { ContentSource } from '../release/content-source.js';
import type { BlobStore } from './blob-store.js';

const deflateRaw = promisify(zlib.deflateRaw);
const inflateRaw = promisify(zlib.inflateRaw);
const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export const ENCODING_RAW = 0;
export const ENCODING_DEFLATE = 1;
type Encoding = typeof ENCODING_RAW | typeof ENCODING_DEFLATE;

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

const packsPrefix = (app: string) => `${app}/objects/packs`;
const packKey = (app: string, pack: string) => `${packsPrefix(app)}/${pack}.pack`;
const indexKey = (app: string, pack: string) => `${packsPrefix(app)}/${pack}.idx`;
const PACK_NAME = /^[0-9a-f]{64}$/;
const DIGEST = /^[0-9a-f]{64}$/;
/** one content larger than this is refused (a hostile index, not a release) */
const MAX_OBJECT_BYTES = 8 * 1024 ** 3;
/** ranges closer than this are read as one, skipping the bytes between */
const COALESCE_GAP = 512 * 1024;
/** a single read asks for at most this much (objects larger than it are read alone) */
const MAX_RANGE = 32 * 1024 * 1024;
const READ_CONCURRENCY = 3;
const COMPRESS_CONCURRENCY = 4;

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

export interface PutObjectsResult {
  /** contents that were not in the store yet */
  addedObjects: number;
  /** bytes those took in the store (compressed) */
  addedBytes: number;
  /** bytes of the contents wanted, as stored (whether added now or there already) */
  storedBytes: number;
}

export interface ObjectsProgress {
  (phase: 'pack' | 'upload', done: number, total: number): void;
}

/**
 * Makes sure the store holds every content in `wanted` (digest → size): the ones it
 * lacks are packed (compressed where that pays) into one new pack and uploaded, pack
 * first, index last. Contents already stored are not read, packed or sent.
 */
export async function putObjects(
  store: BlobStore,
  app: string,
  wanted: Map<string, number>,
  source: ContentSource,
  options: { index?: ObjectIndex; onProgress?: ObjectsProgress } = {},
): Promise<PutObjectsResult> {
  const index = options.index ?? (await loadObjectIndex(store, app));
  const missing = [...wanted.keys()].filter((digest) => !index.has(digest)).sort();
  let storedBytes = 0;
  for (const [digest] of wanted) {
    const location = index.get(digest);
    if (location) storedBytes += location.length;
  }
  if (missing.length === 0) return { addedObjects: 0, addedBytes: 0, storedBytes };

  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-pack-'));
  try {
    const packFile = path.join(workDir, 'objects.pack');
    const fd = openSync(packFile, 'w');
    const hash = createHash('sha256');
    const entries: PackIndexFile['objects'] = [];
    let offset = 0;
    let missingBytes = 0;
    for (const digest of missing) missingBytes += wanted.get(digest)!;
    let packedBytes = 0;
    // Pack bytes are gathered and written a few MiB at a time: one write per small content costs more than the content.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = () => {
      if (pendingBytes === 0) return;
      const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      let written = 0;
      while (written < chunk.length) written += writeSync(fd, chunk, written, chunk.length - written);
      pending = [];
      pendingBytes = 0;
    };
    try {
      // Large contents are compressed in the thread pool, several at once; the pack keeps the digest order.
      let next = 0;
      const encodeNext = async (): Promise<{ digest: string; data: Buffer; encoding: Encoding; size: number } | null> => {
        if (next >= missing.length) return null;
        const digest = missing[next++]!;
        const content = source.readSync ? source.readSync(digest) : await source.read(digest);
        const actual = createHash('sha256').update(content).digest('hex');
        if (actual !== digest) {
          throw new SlipwayError('RELEASE_SOURCE_CHANGED', `a content of the release does not match its manifest (expected ${digest.slice(0, 12)}, read ${actual.slice(0, 12)}); nothing was stored`, {
            hint: 'if this is a build, something else wrote into the build folder: build again; if the release was sent, send it again',
          });
        }
        const encoded = await encodeObject(content);
        return { digest, size: content.length, ...encoded };
      };
      const inFlight: Array<Promise<Awaited<ReturnType<typeof encodeNext>>>> = [];
      for (let i = 0; i < COMPRESS_CONCURRENCY; i++) inFlight.push(encodeNext());
      while (inFlight.length > 0) {
        const item = await inFlight.shift()!;
        if (!item) continue;
        inFlight.push(encodeNext());
        pending.push(item.data);
        pendingBytes += item.data.length;
        if (pendingBytes >= 8 * 1024 * 1024) flush();
        hash.update(item.data);
        entries.push([item.digest, offset, item.data.length, item.size, item.encoding]);
        offset += item.data.length;
        packedBytes += item.size;
        options.onProgress?.('pack', packedBytes, missingBytes);
      }
      flush();
    } finally {
      closeSync(fd);
    }
    const pack = hash.digest('hex');
    const indexBytes = await gzip(Buffer.from(JSON.stringify({ format: 1, createdAt: new Date().toISOString(), objects: entries } satisfies PackIndexFile)));
    await store.putFile(packKey(app, pack), packFile, { consume: true, onProgress: (sent, total) => options.onProgress?.('upload', sent, total) });
    await store.put(indexKey(app, pack), indexBytes);
    for (const [digest, entryOffset, length, size, encoding] of entries) {
      index.set(digest, { pack, offset: entryOffset, length, size, encoding: encoding as Encoding });
    }
    return { addedObjects: entries.length, addedBytes: offset, storedBytes: storedBytes + offset };
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Below this size a content is (de)compressed on the calling thread: a trip through the
 * thread pool costs more than the work. Larger ones go to the pool, several at once.
 */
const INLINE_ZLIB_BYTES = 128 * 1024;

/** Deflates a content when that saves at least 1/16 of it; a sample decides for large ones, so incompressible data costs little. */
async function encodeObject(content: Buffer): Promise<{ data: Buffer; encoding: Encoding }> {
  if (content.length < 64) return { data: content, encoding: ENCODING_RAW };
  if (content.length > 1024 * 1024) {
    const sample = await deflateRaw(content.subarray(0, 64 * 1024), { level: 1 });
    if (sample.length > 60 * 1024) return { data: content, encoding: ENCODING_RAW };
  }
  const deflated = content.length < INLINE_ZLIB_BYTES ? zlib.deflateRawSync(content, { level: 1 }) : await deflateRaw(content, { level: 1 });
  if (deflated.length > content.length - (content.length >> 4)) return { data: content, encoding: ENCODING_RAW };
  return { data: deflated, encoding: ENCODING_DEFLATE };
}

export interface WantedObject {
  sha256: string;
  /** the size the manifest gives: more bytes than this are never inflated */
  size: number;
}

function objectMissing(app: string, digest: string): SlipwayError {
  return new SlipwayError('RELEASE_INCOMPLETE', `the store has no content ${digest.slice(0, 12)} that the release of ${app} needs`, {
    hint: 'the release was published incompletely or its content was collected; publish it again with `slipway build`',
  });
}

function objectDamaged(digest: string, why: string): SlipwayError {
  return new SlipwayError('RELEASE_ARCHIVE_REJECTED', `content ${digest.slice(0, 12)} read from the store does not match its digest (${why})`, {
    hint: 'the store holds damaged or tampered data; nothing was installed. Publish the release again.',
  });
}

/** A content's stored bytes inside a range read from its pack. */
export interface StoredSlice extends WantedObject {
  encoding: Encoding;
  /** where its stored bytes are in the range's buffer */
  start: number;
  end: number;
}

/**
 * Reads the packs' bytes of the given contents, as few ranged reads as possible, and
 * hands each range over with where each content lies in it, still encoded and not yet
 * checked: `accept` must check each content against its digest before using it
 * (readObjects does; a host's install does it in its workers). Fails, reading
 * nothing more, on the first content that is missing or that `accept` refuses.
 */
export async function readStoredRanges(
  store: BlobStore,
  app: string,
  wanted: readonly WantedObject[],
  index: ObjectIndex,
  accept: (buffer: Buffer, slices: StoredSlice[]) => Promise<void> | void,
  options: { onProgress?: (doneBytes: number, totalBytes: number) => void } = {},
): Promise<{ fetchedBytes: number }> {
  const byPack = new Map<string, Array<WantedObject & ObjectLocation>>();
  let totalBytes = 0;
  for (const object of wanted) {
    const location = index.get(object.sha256);
    if (!location) throw objectMissing(app, object.sha256);
    if (location.size !== object.size) throw objectDamaged(object.sha256, `the index says ${location.size} bytes, the manifest ${object.size}`);
    let list = byPack.get(location.pack);
    if (!list) byPack.set(location.pack, (list = []));
    list.push({ ...object, ...location });
    totalBytes += location.length;
  }
  const ranges: Array<{ pack: string; start: number; end: number; objects: Array<WantedObject & ObjectLocation> }> = [];
  for (const [pack, objects] of byPack) {
    objects.sort((a, b) => a.offset - b.offset);
    let current: (typeof ranges)[number] | null = null;
    for (const object of objects) {
      const end = object.offset + object.length;
      if (current && object.offset >= current.end && object.offset - current.end <= COALESCE_GAP && end - current.start <= MAX_RANGE) {
        current.end = end;
        current.objects.push(object);
      } else {
        current = { pack, start: object.offset, end, objects: [object] };
        ranges.push(current);
      }
    }
  }

  let fetchedBytes = 0;
  let doneBytes = 0;
  let failure: unknown;
  let next = 0;
  const worker = async () => {
    while (next < ranges.length && failure === undefined) {
      const range = ranges[next++]!;
      try {
        const bytes = await store.getRange(packKey(app, range.pack), range.start, range.end);
        if (!bytes) throw objectMissing(app, range.objects[0]!.sha256);
        fetchedBytes += bytes.length;
        if (failure !== undefined) return;
        const slices = range.objects.map((o) => ({ sha256: o.sha256, size: o.size, encoding: o.encoding, start: o.offset - range.start, end: o.offset - range.start + o.length }));
        await accept(bytes, slices);
        for (const o of range.objects) doneBytes += o.length;
        options.onProgress?.(doneBytes, totalBytes);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, ranges.length) }, worker));
  if (failure !== undefined) throw failure;
  return { fetchedBytes };
}

/** Reads the given contents from the store and hands each to `accept` once it has been checked against its digest. */
export async function readObjects(
  store: BlobStore,
  app: string,
  wanted: readonly WantedObject[],
  index: ObjectIndex,
  accept: (digest: string, content: Buffer) => Promise<void> | void,
  options: { onProgress?: (doneBytes: number, totalBytes: number) => void } = {},
): Promise<{ fetchedBytes: number }> {
  return readStoredRanges(
    store,
    app,
    wanted,
    index,
    async (buffer, slices) => {
      for (const slice of slices) await accept(slice.sha256, await decodeObject(slice, buffer.subarray(slice.start, slice.end)));
    },
    options,
  );
}

/** Why a content read from the store is refused (for checks done elsewhere, such as a host's install workers). */
export function contentDamaged(digest: string, why: string): SlipwayError {
  return objectDamaged(digest, why);
}

async function decodeObject(object: WantedObject & { encoding: Encoding }, stored: Buffer): Promise<Buffer> {
  let content: Buffer;
  if (object.encoding === ENCODING_RAW) content = stored;
  else {
    try {
      // Never inflate more than the manifest says the file holds (a decompression bomb stops there).
      const limit = { maxOutputLength: Math.max(1, object.size) };
      content = object.size < INLINE_ZLIB_BYTES ? zlib.inflateRawSync(stored, limit) : await inflateRaw(stored, limit);
    } catch (error) {
      throw objectDamaged(object.sha256, `it does not inflate: ${(error as Error).message}`);
    }
  }
  if (content.length !== object.size) throw objectDamaged(object.sha256, `${content.length} bytes instead of ${object.size}`);
  const actual = createHash('sha256').update(content).digest('hex');
  if (actual !== object.sha256) throw objectDamaged(object.sha256, `its digest is ${actual.slice(0, 12)}`);
  return content;
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
