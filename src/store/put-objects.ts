/** Putting contents into a store: the ones it lacks, packed (compressed where that pays) into one new pack. */
import { createHash } from 'node:crypto';
import { closeSync, openSync, promises as fs, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { SlipwayError } from '../errors.js';
import type { ContentSource } from '../release/content-source.js';
import type { BlobStore } from './blob-store.js';
import type { FileReply } from '../release/file-worker.js';
import { startFileWorkers } from '../release/file-workers.js';
import { encodeObjectSync } from '../util/encode-object.js';
import { ENCODING_DEFLATE, ENCODING_RAW, INLINE_ZLIB_BYTES, indexKey, loadObjectIndex, packKey, type Encoding, type ObjectIndex, type PackIndexFile } from './objects.js';

const deflateRaw = promisify(zlib.deflateRaw);
const gzip = promisify(zlib.gzip);
const COMPRESS_CONCURRENCY = 4;
/** From this many contents (or bytes) to pack, the file workers do it: below, starting them costs more than they save. */
const WORKERS_FROM_CONTENTS = 200;
const WORKERS_FROM_BYTES = 32 * 1024 * 1024;
/** a batch for a file worker: this many bytes of contents, or this many files, whichever comes first */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_FILES = 512;

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
    let pending: Uint8Array[] = [];
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
      for await (const item of encodedContents(missing, wanted, source)) {
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

interface EncodedContent {
  digest: string;
  data: Uint8Array;
  encoding: Encoding;
  size: number;
}

/** Contents in digest order, each checked against its digest and encoded: on every core when they are files on this disk and many. */
function encodedContents(missing: string[], wanted: Map<string, number>, source: ContentSource): AsyncIterable<EncodedContent> {
  let bytes = 0;
  for (const digest of missing) bytes += wanted.get(digest)!;
  const fileOf = source.fileOf;
  if (fileOf && (missing.length >= WORKERS_FROM_CONTENTS || bytes >= WORKERS_FROM_BYTES)) return encodedInWorkers(missing, wanted, fileOf);
  return encodedHere(missing, source);
}

/** Batches of files (a few MiB, or one large file) to the file workers, a few batches ahead; answers taken in order. */
async function* encodedInWorkers(missing: string[], wanted: Map<string, number>, fileOf: (digest: string) => string): AsyncIterable<EncodedContent> {
  const batches: Array<Array<[string, string]>> = [];
  let batch: Array<[string, string]> = [];
  let batchBytes = 0;
  for (const digest of missing) {
    batch.push([digest, fileOf(digest)]);
    batchBytes += wanted.get(digest)!;
    if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_FILES) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length > 0) batches.push(batch);
  const workers = startFileWorkers();
  try {
    const ahead = workers.size * 2;
    const inFlight: Array<Promise<Extract<FileReply, { op: 'pack'; ok: true }>>> = [];
    let next = 0;
    const send = () => {
      const items = batches[next++]!;
      const answer = workers.run({ op: 'pack', items });
      answer.catch(() => undefined); // awaited in order below; an earlier failure must not leave this one unhandled
      inFlight.push(answer);
    };
    while (next < batches.length && inFlight.length < ahead) send();
    for (let b = 0; b < batches.length; b++) {
      const reply = await inFlight.shift()!;
      if (next < batches.length) send();
      const data = Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength);
      let at = 0;
      for (let i = 0; i < batches[b]!.length; i++) {
        const length = reply.entries[i * 3]!;
        yield { digest: batches[b]![i]![0], data: data.subarray(at, at + length), size: reply.entries[i * 3 + 1]!, encoding: reply.entries[i * 3 + 2]! as Encoding };
        at += length;
      }
    }
  } finally {
    await workers.close();
  }
}

/** In this process: few contents, or a source that is not files on this disk. Large ones are compressed in the thread pool, several at once. */
async function* encodedHere(missing: string[], source: ContentSource): AsyncIterable<EncodedContent> {
  let next = 0;
  const encodeNext = async (): Promise<EncodedContent | null> => {
    if (next >= missing.length) return null;
    const digest = missing[next++]!;
    const content = source.readSync ? source.readSync(digest) : await source.read(digest);
    const actual = createHash('sha256').update(content).digest('hex');
    if (actual !== digest) {
      throw new SlipwayError('RELEASE_SOURCE_CHANGED', `a content of the release does not match its manifest (expected ${digest.slice(0, 12)}, read ${actual.slice(0, 12)}); nothing was stored`, {
        hint: 'if this is a build, something else wrote into the build folder: build again; if the release was sent, send it again',
      });
    }
    return { digest, size: content.length, ...(await encodeObject(content)) };
  };
  const inFlight: Array<Promise<EncodedContent | null>> = [];
  for (let i = 0; i < COMPRESS_CONCURRENCY; i++) {
    const p = encodeNext();
    p.catch(() => undefined);
    inFlight.push(p);
  }
  while (inFlight.length > 0) {
    const item = await inFlight.shift()!;
    if (!item) continue;
    const p = encodeNext();
    p.catch(() => undefined);
    inFlight.push(p);
    yield item;
  }
}

/** encodeObjectSync, with large contents compressed in the thread pool. */
async function encodeObject(content: Buffer): Promise<{ data: Uint8Array; encoding: Encoding }> {
  if (content.length < INLINE_ZLIB_BYTES) return encodeObjectSync(content);
  if (content.length > 1024 * 1024) {
    const sample = await deflateRaw(content.subarray(0, 64 * 1024), { level: 1 });
    if (sample.length > 60 * 1024) return { data: content, encoding: ENCODING_RAW };
  }
  const deflated = await deflateRaw(content, { level: 1 });
  if (deflated.length > content.length - (content.length >> 4)) return { data: content, encoding: ENCODING_RAW };
  return { data: deflated, encoding: ENCODING_DEFLATE };
}
