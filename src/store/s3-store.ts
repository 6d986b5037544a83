/**
 * A store in an S3-compatible bucket (AWS S3, MinIO, Garage, R2…). The AWS SDK
 * loads only when a store of this type is opened, so the CLI starts fast.
 *
 * Every object carries the sha256 of its bytes in its metadata (x-amz-meta-sha256),
 * written at upload and checked at download: a changed or damaged object is refused.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { SlipwayError, redactSecrets, registerSecret } from '../errors.js';
import { objectTooLarge, type BlobStore, type ConditionalGetResult, type PutFileOptions } from './blob-store.js';

export interface S3StoreConfig {
  bucket: string;
  region?: string;
  /** for S3-compatible servers, e.g. https://minio.example.com:9000 */
  endpoint?: string;
  /** prepended to every key, e.g. "slipway/" */
  prefix?: string;
  /** bucket in the path (http://host/bucket/key) instead of the host name; most self-hosted servers need it */
  forcePathStyle: boolean;
}

const MIB = 1024 * 1024;
/** Files above this size go up in parts, so a failure costs one part and memory stays bounded. */
export const MULTIPART_THRESHOLD_BYTES = 16 * MIB;
const MIN_PART_BYTES = 16 * MIB;
/** S3's own limit on parts per upload */
const MAX_PARTS = 10_000;
const SHA256_META = 'sha256';

type S3Module = typeof import('@aws-sdk/client-s3');

export async function createS3Store(config: S3StoreConfig, env: NodeJS.ProcessEnv = process.env): Promise<BlobStore> {
  // The SDK warns on every start that future versions will need Node 22; slipway pins
  // a version that supports Node 20, so the warning only confuses users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const sdk: S3Module = await import('@aws-sdk/client-s3');
  registerSecret(env.AWS_SECRET_ACCESS_KEY);
  registerSecret(env.AWS_SESSION_TOKEN);

  const prefix = normalizePrefix(config.prefix);
  const description = describeBucket(config, prefix);
  const explicitCredentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  const client: S3Client = new sdk.S3Client({
    region: config.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.forcePathStyle,
    // Without explicit keys in `env`, the SDK's default chain: env, ~/.aws, SSO, instance roles.
    ...(explicitCredentials ? { credentials: explicitCredentials } : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
  const Bucket = config.bucket;

  function objectKey(key: string): string {
    if (key.length === 0 || key.startsWith('/') || key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
      throw new SlipwayError('STORE_BAD_KEY', `refusing the store key "${key}"`, { hint: 'this is a bug in slipway; please report it' });
    }
    return `${prefix}${key}`;
  }

  /** Runs one SDK call; every failure becomes a SlipwayError that says what to do. */
  async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw storeError(error, what, { description, config });
    }
  }

  function checkSha256(key: string, expected: string | undefined, actual: string): void {
    if (expected !== undefined && expected !== actual) {
      throw new SlipwayError('STORE_CHECKSUM_MISMATCH', `${key} in ${description} does not match the checksum recorded when it was uploaded`, {
        hint: 'the object was changed or damaged in the bucket; upload it again (e.g. `slipway publish`), and check who else writes to this bucket',
        details: [`expected sha256 ${expected}`, `got      sha256 ${actual}`],
      });
    }
  }

  /** The body, read chunk by chunk and cut off past maxBytes (the stated length is checked first). */
  async function readBody(key: string, body: Readable, contentLength: number | undefined, maxBytes: number): Promise<Buffer> {
    if (contentLength !== undefined && contentLength > maxBytes) {
      body.destroy();
      throw objectTooLarge(key, description, maxBytes);
    }
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of body) {
      length += (chunk as Buffer).length;
      if (length > maxBytes) {
        body.destroy();
        throw objectTooLarge(key, description, maxBytes);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async function getObject(key: string, ifNoneMatch: string | null, maxBytes?: number): Promise<ConditionalGetResult | null> {
    const Key = objectKey(key);
    try {
      const response = await client.send(new sdk.GetObjectCommand({ Bucket, Key, ...(ifNoneMatch ? { IfNoneMatch: ifNoneMatch } : {}) }));
      const body =
        maxBytes === undefined ? Buffer.from(await response.Body!.transformToByteArray()) : await readBody(key, response.Body as Readable, response.ContentLength, maxBytes);
      checkSha256(key, response.Metadata?.[SHA256_META], sha256(body));
      return { notModified: false, body, etag: response.ETag ?? '' };
    } catch (error) {
      if (error instanceof SlipwayError) throw error;
      const status = httpStatus(error);
      if (status === 304) return { notModified: true };
      if (isMissingKey(error)) return null;
      throw storeError(error, `read ${key}`, { description, config });
    }
  }

  async function putBuffer(key: string, body: Buffer): Promise<void> {
    await call(`write ${key}`, () =>
      client.send(new sdk.PutObjectCommand({ Bucket, Key: objectKey(key), Body: body, ContentType: contentTypeOf(key), Metadata: { [SHA256_META]: sha256(body) } })),
    );
  }

  async function putMultipart(key: string, sourceFile: string, size: number, options: PutFileOptions): Promise<void> {
    const Key = objectKey(key);
    const expected = await sha256OfFile(sourceFile);
    const partSize = Math.max(MIN_PART_BYTES, Math.ceil(size / MAX_PARTS / MIB) * MIB);
    const created = await call(`start uploading ${key}`, () =>
      client.send(new sdk.CreateMultipartUploadCommand({ Bucket, Key, ContentType: contentTypeOf(key), Metadata: { [SHA256_META]: expected } })),
    );
    const UploadId = created.UploadId!;
    const handle = await fs.open(sourceFile, 'r');
    try {
      const parts: Array<{ PartNumber: number; ETag?: string; ChecksumCRC32?: string }> = [];
      const hash = createHash('sha256');
      const buffer = Buffer.alloc(Math.min(partSize, size));
      let sent = 0;
      for (let PartNumber = 1; sent < size; PartNumber += 1) {
        const length = Math.min(partSize, size - sent);
        const { bytesRead } = await handle.read(buffer, 0, length, sent);
        if (bytesRead !== length) throw sourceChanged(key, sourceFile);
        const body = buffer.subarray(0, length);
        hash.update(body);
        const uploaded = await call(`upload part ${PartNumber} of ${key}`, () => client.send(new sdk.UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: body })));
        parts.push({ PartNumber, ETag: uploaded.ETag, ...(uploaded.ChecksumCRC32 ? { ChecksumCRC32: uploaded.ChecksumCRC32 } : {}) });
        sent += length;
        options.onProgress?.(sent, size);
      }
      // The checksum in the metadata was computed before the upload: the bytes sent must be the same.
      if (hash.digest('hex') !== expected) throw sourceChanged(key, sourceFile);
      await call(`finish uploading ${key}`, () => client.send(new sdk.CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } })));
    } catch (error) {
      // Parts of an abandoned upload cost storage until a lifecycle rule removes them: abort it now.
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
      throw error;
    } finally {
      await handle.close();
    }
  }

  async function getToFileOnce(key: string, destFile: string): Promise<boolean> {
    const temp = `${destFile}.${randomBytes(6).toString('hex')}.part`;
    try {
      const response = await client.send(new sdk.GetObjectCommand({ Bucket, Key: objectKey(key) }));
      const hash = createHash('sha256');
      await pipeline(response.Body as Readable, hashingPassThrough(hash), createWriteStream(temp, { flags: 'wx' }));
      checkSha256(key, response.Metadata?.[SHA256_META], hash.digest('hex'));
      await fs.rename(temp, destFile);
      return true;
    } catch (error) {
      await fs.rm(temp, { force: true });
      if (error instanceof SlipwayError) throw error;
      if (isMissingKey(error)) return false;
      throw storeError(error, `download ${key}`, { description, config });
    }
  }

  return {
    description,
    put: (key, body) => putBuffer(key, typeof body === 'string' ? Buffer.from(body) : body),
    async putFile(key, sourceFile, options = {}) {
      const { size } = await fs.stat(sourceFile);
      if (size <= MULTIPART_THRESHOLD_BYTES) {
        await putBuffer(key, await fs.readFile(sourceFile));
        options.onProgress?.(size, size);
        return;
      }
      await putMultipart(key, sourceFile, size, options);
    },
    async get(key, options) {
      const result = await withReadRetry(() => getObject(key, null, options?.maxBytes));
      return result && !result.notModified ? result.body : null;
    },
    getIfChanged: (key, etag, options) => withReadRetry(() => getObject(key, etag, options?.maxBytes)),
    getToFile: (key, destFile) => withReadRetry(() => getToFileOnce(key, destFile)),
    getRange: (key, start, end) =>
      withReadRetry(async () => {
        try {
          const response = await client.send(new sdk.GetObjectCommand({ Bucket, Key: objectKey(key), Range: `bytes=${start}-${end - 1}` }));
          const body = Buffer.from(await response.Body!.transformToByteArray());
          if (body.length !== end - start) {
            throw new SlipwayError('STORE_UNREACHABLE', `${key} in ${description}: asked for ${end - start} bytes, got ${body.length}`, { hint: 'run the command again' });
          }
          return body;
        } catch (error) {
          if (error instanceof SlipwayError) throw error;
          if (isMissingKey(error)) return null;
          throw storeError(error, `read part of ${key}`, { description, config });
        }
      }),
    async exists(key) {
      try {
        await client.send(new sdk.HeadObjectCommand({ Bucket, Key: objectKey(key) }));
        return true;
      } catch (error) {
        if (isMissingKey(error)) return false;
        throw storeError(error, `look up ${key}`, { description, config });
      }
    },
    async list(listPrefix) {
      const trimmed = listPrefix.replace(/\/+$/, '');
      const Prefix = trimmed === '' ? prefix : `${objectKey(trimmed)}/`;
      const keys: string[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await call(`list ${trimmed || '/'}`, () => client.send(new sdk.ListObjectsV2Command({ Bucket, Prefix, ...(ContinuationToken ? { ContinuationToken } : {}) })));
        for (const object of page.Contents ?? []) {
          if (object.Key && !object.Key.endsWith('/')) keys.push(object.Key.slice(prefix.length));
        }
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return keys.sort();
    },
    async delete(key) {
      await call(`delete ${key}`, () => client.send(new sdk.DeleteObjectCommand({ Bucket, Key: objectKey(key) })));
    },
  };
}

function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

function describeBucket(config: S3StoreConfig, prefix: string): string {
  let where = '';
  if (config.endpoint) {
    try {
      const url = new URL(config.endpoint);
      url.username = '';
      url.password = '';
      where = ` at ${url.origin}${url.pathname === '/' ? '' : url.pathname}`;
    } catch {
      where = ` at ${redactSecrets(config.endpoint)}`;
    }
  }
  return `s3://${config.bucket}/${prefix}${where}`;
}

function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.tar.gz')) return 'application/gzip';
  return 'application/octet-stream';
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function hashingPassThrough(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

function sourceChanged(key: string, file: string): SlipwayError {
  return new SlipwayError('STORE_SOURCE_CHANGED', `${file} changed while it was being uploaded as ${key}`, {
    hint: 'nothing was stored; run the command again once nothing else writes to the file',
  });
}

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function httpStatus(error: unknown): number | undefined {
  return (error as SdkError | null)?.$metadata?.httpStatusCode;
}

function isMissingKey(error: unknown): boolean {
  const name = (error as SdkError | null)?.name;
  return name === 'NoSuchKey' || (name === 'NotFound' && httpStatus(error) === 404);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/** An SDK failure as a SlipwayError with a hint about the likely cause. */
function storeError(error: unknown, what: string, where: { description: string; config: S3StoreConfig }): SlipwayError {
  if (error instanceof SlipwayError) return error;
  const e = (error ?? {}) as SdkError;
  const name = e.Code ?? e.name ?? 'Error';
  const status = httpStatus(error);
  const detail = redactSecrets(e.message && e.message !== name ? `${name}: ${e.message}` : name);
  const message = `cannot ${what} in ${where.description}`;
  if (name === 'NoSuchBucket') {
    return new SlipwayError('STORE_BUCKET_NOT_FOUND', `${message}: the bucket ${where.config.bucket} does not exist`, {
      hint: 'create the bucket, or fix store.bucket (and store.endpoint / store.region) in slipway.yml',
      cause: error,
    });
  }
  if (['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled'].includes(name) || status === 403) {
    return new SlipwayError('STORE_ACCESS_DENIED', `${message}: access denied (${name})`, {
      hint: 'check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance role) and that they may read and write this bucket',
      cause: error,
    });
  }
  if (name === 'CredentialsProviderError') {
    return new SlipwayError('STORE_NO_CREDENTIALS', `${message}: no credentials found`, {
      exitCode: 2,
      hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment of slipway',
      cause: error,
    });
  }
  const code = e.code ?? '';
  if (NETWORK_CODES.has(code) || name === 'TimeoutError' || NETWORK_CODES.has(name)) {
    return new SlipwayError('STORE_UNREACHABLE', `${message}: ${code || name} (${detail})`, {
      hint: where.config.endpoint
        ? 'check store.endpoint in slipway.yml and that the S3 server is up and reachable from here'
        : 'check the network connection and store.region in slipway.yml',
      cause: error,
    });
  }
  return new SlipwayError('STORE_ERROR', `${message}: ${detail}${status ? ` (HTTP ${status})` : ''}`, {
    hint: 'run the command again; if it keeps failing, check the bucket settings and the S3 server logs',
    cause: error,
  });
}

/**
 * A read cut off mid-body (a server that rewrites objects in place, a dropped connection)
 * is not covered by the SDK's own retries: try a read twice more before giving up.
 */
async function withReadRetry<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await read();
    } catch (error) {
      const code = error instanceof SlipwayError ? error.code : '';
      if (attempt >= 3 || (code !== 'STORE_UNREACHABLE' && code !== 'STORE_CHECKSUM_MISMATCH')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
