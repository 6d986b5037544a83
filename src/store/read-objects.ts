/** Reading contents out of a store's packs: as few ranged reads as possible, each content checked against its digest. */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { SlipwayError } from '../errors.js';
import type { BlobStore } from './blob-store.js';
import { ENCODING_RAW, INLINE_ZLIB_BYTES, packKey, type Encoding, type ObjectIndex, type ObjectLocation } from './objects.js';

const inflateRaw = promisify(zlib.inflateRaw);
/** ranges closer than this are read as one, skipping the bytes between */
const COALESCE_GAP = 512 * 1024;
/** a single read asks for at most this much (objects larger than it are read alone) */
const MAX_RANGE = 32 * 1024 * 1024;
const READ_CONCURRENCY = 3;

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

