/**
 * Streams bytes into a backup file: optionally gzip, sha256 and count on the way,
 * fsync at the end. Nothing is ever held whole in memory. A failure leaves no file
 * behind, and a full disk becomes BACKUP_DISK_FULL.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { SlipwayError } from '../errors.js';
import { fsyncPath } from '../util/atomic-write.js';

import { isDiskFull } from '../util/disk-full.js';

export { isDiskFull };

export function diskFullError(file: string, cause: unknown): SlipwayError {
  return new SlipwayError('BACKUP_DISK_FULL', `The disk is full: could not write ${file}. The partial backup file was removed.`, {
    hint: `Free space on the filesystem holding ${path.dirname(file)} (or remove old backups with \`slipway backup prune\`), then try again. Nothing was changed.`,
    cause,
  });
}

/** A pass-through that counts bytes, hashes them and reports progress. */
export function meter(onBytes?: (bytes: number) => void): Transform & { bytes(): number; sha256(): string } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes?.(bytes);
      callback(null, chunk);
    },
  });
  let digest: string | undefined;
  return Object.assign(stream, {
    bytes: () => bytes,
    sha256: () => (digest ??= hash.digest('hex')),
  });
}

/**
 * Writes `source` to `file` (created exclusively, mode 0600), gzipped when asked.
 * Returns the size and sha256 of the bytes on disk.
 */
export async function writeStreamToFile(o: {
  source: Readable;
  file: string;
  gzip: boolean;
  onBytes?: (bytes: number) => void;
}): Promise<{ bytes: number; sha256: string }> {
  const counter = meter(o.onBytes);
  try {
    const out = createWriteStream(o.file, { flags: 'wx', mode: 0o600 });
    if (o.gzip) await pipeline(o.source, createGzip(), counter, out);
    else await pipeline(o.source, counter, out);
    await fsyncPath(o.file);
  } catch (error) {
    o.source.destroy();
    await fs.rm(o.file, { force: true });
    if (isDiskFull(error)) throw diskFullError(o.file, error);
    throw error;
  }
  return { bytes: counter.bytes(), sha256: counter.sha256() };
}

export { fsyncPath as fsyncFile, fsyncDir } from '../util/atomic-write.js';

export async function fileSize(file: string): Promise<number | null> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return null;
  }
}

/**
 * Gunzips `source` into `file` (created exclusively, 0600). A damaged gzip stream
 * (bad CRC, truncated) rejects with the zlib error; a full disk with BACKUP_DISK_FULL.
 * The file is removed on failure.
 */
export async function gunzipToFile(source: string, file: string): Promise<{ bytes: number }> {
  const counter = meter();
  try {
    await pipeline(createReadStream(source), createGunzip(), counter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    await fsyncPath(file);
  } catch (error) {
    await fs.rm(file, { force: true });
    if (isDiskFull(error)) throw diskFullError(file, error);
    throw error;
  }
  return { bytes: counter.bytes() };
}

export function isZlibError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return code.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid .* (distance|code|block)/i.test((error as Error).message ?? '');
}
