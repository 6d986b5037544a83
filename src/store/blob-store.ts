import { SlipwayError } from '../errors.js';

/**
 * The smallest storage surface slipway needs, so that a local folder and an
 * S3 bucket are interchangeable. Keys are '/'-separated relative paths.
 * Every put is atomic: a reader sees the whole old object or the whole new one.
 */
export interface BlobStore {
  /** where this store is, for messages (never includes credentials) */
  readonly description: string;
  put(key: string, body: Buffer | string): Promise<void>;
  putFile(key: string, sourceFile: string, options?: PutFileOptions): Promise<void>;
  /** null when the key does not exist; past `maxBytes` the download is cut off and refused (STORE_OBJECT_TOO_LARGE) */
  get(key: string, options?: GetOptions): Promise<Buffer | null>;
  /**
   * A conditional read: `notModified` when the object still has `etag`, so an
   * unchanged object costs one small request. null when the key does not exist.
   */
  getIfChanged?(key: string, etag: string | null, options?: GetOptions): Promise<ConditionalGetResult | null>;
  /** false when the key does not exist */
  getToFile(key: string, destFile: string): Promise<boolean>;
  /**
   * Bytes [start, end) of an object, for reading a few entries out of a large pack.
   * null when the key does not exist; a range past the end is an error. The object's
   * whole-object checksum cannot be checked on a part: callers check what they read.
   */
  getRange(key: string, start: number, end: number): Promise<Buffer | null>;
  exists(key: string): Promise<boolean>;
  /** keys under prefix, sorted */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export interface GetOptions {
  /** the most bytes the caller accepts: a larger object is not read past this and is refused */
  maxBytes?: number;
}

/** STORE_OBJECT_TOO_LARGE: an object larger than its reader's limit; what was read is dropped. */
export function objectTooLarge(key: string, description: string, maxBytes: number): SlipwayError {
  return new SlipwayError('STORE_OBJECT_TOO_LARGE', `${key} in ${description} is larger than ${maxBytes} bytes, the most slipway reads for it; the download was cut off and refused`, {
    hint: 'something other than slipway wrote it, or it was damaged: write it again with slipway (publish, channel set), and check who else writes to the store',
  });
}

export interface PutFileOptions {
  /** the caller is done with the file: a store may move it instead of copying it */
  consume?: boolean;
  /** called as the upload advances (stores that upload in parts call it once per part) */
  onProgress?(sentBytes: number, totalBytes: number): void;
}

export type ConditionalGetResult = { notModified: true } | { notModified: false; body: Buffer; etag: string };
