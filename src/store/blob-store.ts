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
  /** null when the key does not exist */
  get(key: string): Promise<Buffer | null>;
  /**
   * A conditional read: `notModified` when the object still has `etag`, so an
   * unchanged object costs one small request. null when the key does not exist.
   */
  getIfChanged?(key: string, etag: string | null): Promise<ConditionalGetResult | null>;
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

export interface PutFileOptions {
  /** the caller is done with the file: a store may move it instead of copying it */
  consume?: boolean;
  /** called as the upload advances (stores that upload in parts call it once per part) */
  onProgress?(sentBytes: number, totalBytes: number): void;
}

export type ConditionalGetResult = { notModified: true } | { notModified: false; body: Buffer; etag: string };
