/**
 * The smallest storage surface slipway needs, so that a local folder and an
 * S3 bucket are interchangeable. Keys are '/'-separated relative paths.
 * Every put is atomic: a reader sees the whole old object or the whole new one.
 */
export interface BlobStore {
  /** where this store is, for messages (never includes credentials) */
  readonly description: string;
  put(key: string, body: Buffer | string): Promise<void>;
  putFile(key: string, sourceFile: string): Promise<void>;
  /** null when the key does not exist */
  get(key: string): Promise<Buffer | null>;
  /** false when the key does not exist */
  getToFile(key: string, destFile: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  /** keys under prefix, sorted */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}
