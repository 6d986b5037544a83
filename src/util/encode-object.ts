/**
 * How a content is stored in a pack: deflated (level 1) when that saves at least 1/16
 * of it, else raw. Synchronous, for the file workers (src/release/file-worker.ts) that
 * pack a build's contents on every core.
 */
import zlib from 'node:zlib';

/** How a content is kept in a pack (the store's format: src/store/objects.ts). */
export const ENCODING_RAW = 0;
export const ENCODING_DEFLATE = 1;
export type Encoding = typeof ENCODING_RAW | typeof ENCODING_DEFLATE;

/** Above this, a 64 KiB sample decides first whether the content compresses at all. */
const SAMPLE_ABOVE = 1024 * 1024;
const SAMPLE_BYTES = 64 * 1024;

/**
 * A window no larger than the content (and a matching hash table): the same output
 * ratio for small files, with far less memory set up and cleared per call. A reader
 * inflates with the default (largest) window, which decodes any smaller one.
 */
function deflateOptions(size: number): zlib.ZlibOptions {
  const windowBits = Math.max(9, Math.min(15, Math.ceil(Math.log2(size + 1))));
  return { level: 1, windowBits, memLevel: Math.max(1, Math.min(8, windowBits - 7)) };
}

export function encodeObjectSync(content: Uint8Array): { data: Uint8Array; encoding: Encoding } {
  if (content.length < 64) return { data: content, encoding: ENCODING_RAW };
  if (content.length > SAMPLE_ABOVE) {
    const sample = zlib.deflateRawSync(content.subarray(0, SAMPLE_BYTES), { level: 1 });
    if (sample.length > SAMPLE_BYTES - SAMPLE_BYTES / 16) return { data: content, encoding: ENCODING_RAW };
  }
  const deflated = zlib.deflateRawSync(content, deflateOptions(content.length));
  if (deflated.length > content.length - (content.length >> 4)) return { data: content, encoding: ENCODING_RAW };
  return { data: deflated, encoding: ENCODING_DEFLATE };
}
