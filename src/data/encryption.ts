/**
 * Encrypts backup files for off-site copies: AES-256-GCM, streamed.
 *
 * File format (version 1):
 *   "SLWYENC" (7 bytes) · version (1 byte) · key id (16 ASCII hex) · IV (12 random bytes)
 *   · ciphertext · GCM tag (16 bytes)
 * The 36-byte header is authenticated too (GCM additional data), so changing any byte
 * of the file fails decryption. The key id is the first 16 hex digits of sha256(key):
 * it tells which key a file needs without revealing the key.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../errors.js';
import { diskFullError, fsyncFile, isDiskFull, meter } from './file-stream.js';

const MAGIC = Buffer.from('SLWYENC', 'ascii');
const VERSION = 1;
const KEY_ID_LENGTH = 16;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = MAGIC.length + 1 + KEY_ID_LENGTH + IV_LENGTH;

/** A 32-byte key from its text form: 64 hex digits, or base64 (standard or URL-safe). */
export function parseBackupKey(secret: string): Buffer {
  const text = secret.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!key || key.length !== 32) {
    throw new SlipwayError('BACKUP_KEY_INVALID', 'The backup encryption key is not 32 bytes written as 64 hex digits or as base64.', {
      hint: 'Generate one with `openssl rand -base64 32` and keep it in the environment\'s secrets.',
      exitCode: 2,
    });
  }
  return key;
}

export function backupKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, KEY_ID_LENGTH);
}

function header(keyId: string, iv: Buffer): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([VERSION]), Buffer.from(keyId, 'ascii'), iv]);
}

/** Encrypts `input` into `output` (which must not exist). Returns the key id and the encrypted file's size and sha256. */
export async function encryptFile(o: { input: string; output: string; key: Buffer }): Promise<{ keyId: string; bytes: number; sha256: string }> {
  const keyId = backupKeyId(o.key);
  const iv = randomBytes(IV_LENGTH);
  const head = header(keyId, iv);
  const cipher = createCipheriv('aes-256-gcm', o.key, iv);
  cipher.setAAD(head);
  const counter = meter();
  // The header goes first and the tag last, around the ciphertext.
  let started = false;
  const frame = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!started) {
        started = true;
        this.push(head);
      }
      callback(null, chunk);
    },
    flush(callback) {
      if (!started) this.push(head);
      this.push(cipher.getAuthTag());
      callback();
    },
  });
  try {
    await pipeline(createReadStream(o.input), cipher, frame, counter, createWriteStream(o.output, { flags: 'wx', mode: 0o600 }));
    await fsyncFile(o.output);
  } catch (error) {
    await fs.rm(o.output, { force: true });
    if (isDiskFull(error)) throw diskFullError(o.output, error);
    throw error;
  }
  return { keyId, bytes: counter.bytes(), sha256: counter.sha256() };
}

/** The key id an encrypted file needs. Throws BACKUP_CORRUPT for a file that is not one. */
export async function encryptedKeyId(file: string): Promise<string> {
  return (await readHeader(file)).keyId;
}

async function readHeader(file: string): Promise<{ keyId: string; iv: Buffer; head: Buffer; tag: Buffer; size: number }> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size < HEADER_LENGTH + TAG_LENGTH) throw notEncrypted(file, 'it is too short');
    const head = Buffer.alloc(HEADER_LENGTH);
    await handle.read(head, 0, HEADER_LENGTH, 0);
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) throw notEncrypted(file, 'it does not start with slipway\'s header');
    const version = head[MAGIC.length];
    if (version !== VERSION) {
      throw new SlipwayError('BACKUP_ENCRYPTION_UNSUPPORTED', `${file} is encrypted with format version ${version}; this slipway reads version ${VERSION}.`, {
        hint: 'Upgrade slipway to decrypt it.',
      });
    }
    const tag = Buffer.alloc(TAG_LENGTH);
    await handle.read(tag, 0, TAG_LENGTH, size - TAG_LENGTH);
    const keyIdStart = MAGIC.length + 1;
    return {
      keyId: head.subarray(keyIdStart, keyIdStart + KEY_ID_LENGTH).toString('ascii'),
      iv: head.subarray(keyIdStart + KEY_ID_LENGTH),
      head,
      tag,
      size,
    };
  } finally {
    await handle.close();
  }
}

function notEncrypted(file: string, why: string): SlipwayError {
  return new SlipwayError('BACKUP_CORRUPT', `${file} is not an encrypted slipway backup (${why}).`, {
    hint: 'Fetch the file again from the store; it may be damaged or not the file you meant.',
  });
}

/**
 * Decrypts `input` into `output` (which must not exist): written under a temporary
 * name and renamed only when the tag verified, so no unauthenticated byte is ever
 * left in `output`. Returns the plaintext's size and sha256 (compare it with the
 * backup item's recorded digest).
 */
export async function decryptFile(o: { input: string; output: string; key: Buffer }): Promise<{ bytes: number; sha256: string }> {
  const { keyId, iv, head, tag, size } = await readHeader(o.input);
  const expected = backupKeyId(o.key);
  if (keyId !== expected) {
    throw new SlipwayError('BACKUP_KEY_MISMATCH', `${o.input} was encrypted with the key whose id is ${keyId}; the key given has id ${expected}.`, {
      hint: 'Use the key that was configured when the backup was taken (key ids are the first 16 hex digits of the key\'s sha256).',
    });
  }
  const decipher = createDecipheriv('aes-256-gcm', o.key, iv);
  decipher.setAAD(head);
  decipher.setAuthTag(tag);
  const counter = meter();
  const temp = `${o.output}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const ciphertextBytes = size - HEADER_LENGTH - TAG_LENGTH;
    await pipeline(
      ciphertextBytes > 0 ? createReadStream(o.input, { start: HEADER_LENGTH, end: size - TAG_LENGTH - 1 }) : Readable.from([]),
      decipher,
      counter,
      createWriteStream(temp, { flags: 'wx', mode: 0o600 }),
    );
    await fsyncFile(temp);
    await putInPlace(temp, o.output);
  } catch (error) {
    if (isDiskFull(error)) throw diskFullError(o.output, error);
    if (/unable to authenticate|auth/i.test((error as Error).message)) {
      throw new SlipwayError('BACKUP_CORRUPT', `${o.input} failed authentication: it was damaged or altered after it was encrypted.`, {
        hint: 'Do not use this copy; fetch it again or use another backup.',
        cause: error,
      });
    }
    throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
  return { bytes: counter.bytes(), sha256: counter.sha256() };
}

/** Moves `temp` to `output`, refusing to replace an existing file (link is atomic; rename is the fallback where links are not supported). */
async function putInPlace(temp: string, output: string): Promise<void> {
  try {
    await fs.link(temp, output);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw error;
    try {
      await fs.lstat(output);
      throw Object.assign(new Error(`EEXIST: file already exists, ${output}`), { code: 'EEXIST' });
    } catch (statError) {
      if ((statError as NodeJS.ErrnoException).code !== 'ENOENT') throw statError;
    }
    await fs.rename(temp, output);
  }
}
