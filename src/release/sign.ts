/**
 * ed25519 signatures over what a release is: its app, its version and its id. Signing the id
 * signs the manifest, and through its hashes every file of the release; naming the app and the
 * version in the signed text means a signature cannot be carried over to another app's release,
 * or read as the signature of another version.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { SlipwayError, usageError } from '../errors.js';
import { shortId } from './manifest.js';

export interface ReleaseSignature {
  alg: 'ed25519';
  /** first 16 hex characters of the sha256 of the signer's public key (SPKI DER) */
  keyId: string;
  /** base64 */
  signature: string;
}

export interface SigningKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
  keyId: string;
}

/** A signature as stored (signature.json, a channel pointer's `signature`). */
export const signatureSchema = z.strictObject({
  alg: z.literal('ed25519'),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  signature: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/),
});

function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

function loadKey(pem: string, kind: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (error) {
    throw usageError('SIGNING_KEY_INVALID', `The ${kind} key is not a valid PEM key.`, {
      cause: error,
      hint: 'Point signing.key / public_keys at the files written by `slipway keys generate`.',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw usageError('SIGNING_KEY_INVALID', `The ${kind} key is a ${key.asymmetricKeyType ?? 'unknown'} key; slipway signs with ed25519 only.`, {
      hint: 'Create an ed25519 key pair with `slipway keys generate`.',
    });
  }
  return key;
}

/** The key id of a PEM public key. */
export function publicKeyId(publicKeyPem: string): string {
  return keyIdOf(loadKey(publicKeyPem, 'public'));
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** What a release signature covers. */
export interface SignedRelease {
  app: string;
  version: string;
  /** the release id (64 hex digits) */
  id: string;
}

/**
 * The exact bytes signed: a fixed first line, then the app, the version and the id as a JSON
 * array (unambiguous whatever characters the app or version hold).
 */
export function releaseSignedText(release: SignedRelease): Buffer {
  return Buffer.from(`slipway release signature v2\n${JSON.stringify([release.app, release.version, release.id])}\n`, 'utf8');
}

/** Signs the release's app, version and id (releaseSignedText). */
export function signRelease(release: SignedRelease, privateKeyPem: string): ReleaseSignature {
  const privateKey = loadKey(privateKeyPem, 'private');
  return {
    alg: 'ed25519',
    keyId: keyIdOf(createPublicKey(privateKey)),
    signature: sign(null, releaseSignedText(release), privateKey).toString('base64'),
  };
}

/** Signs any bytes (a channel pointer's signed text, say) with the project key. */
export function signBytes(bytes: Buffer, privateKeyPem: string): ReleaseSignature {
  const privateKey = loadKey(privateKeyPem, 'private');
  return { alg: 'ed25519', keyId: keyIdOf(createPublicKey(privateKey)), signature: sign(null, bytes, privateKey).toString('base64') };
}

/** Whether `signature` is a valid signature of `bytes` by one of `publicKeysPem`: 'ok', 'unknown-key' or 'bad'. */
export function checkBytesSignature(bytes: Buffer, signature: ReleaseSignature, publicKeysPem: string[]): 'ok' | 'unknown-key' | 'bad' {
  const key = publicKeysPem.map((pem) => loadKey(pem, 'public')).find((k) => keyIdOf(k) === signature.keyId);
  if (!key) return 'unknown-key';
  try {
    return signature.alg === 'ed25519' && verify(null, bytes, key, Buffer.from(signature.signature, 'base64')) ? 'ok' : 'bad';
  } catch {
    return 'bad';
  }
}

/** Parses signature.json; anything malformed reads as an invalid signature. */
export function parseReleaseSignature(bytes: Buffer | string): ReleaseSignature {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    raw = undefined;
  }
  const result = signatureSchema.safeParse(raw);
  if (!result.success) {
    throw new SlipwayError('RELEASE_SIGNATURE_INVALID', 'The release signature file is malformed.', {
      hint: 'Sign the release again with the project key (`slipway build` with signing.key set).',
    });
  }
  return result.data;
}

/**
 * RELEASE_UNSIGNED: an environment that requires signed releases was offered one
 * without a signature. Exit code 2: nothing was done; the fix is in the build or the
 * environment's configuration. `version` and `environment` are named when known.
 */
export function releaseUnsigned(o: { id: string; version?: string; environment?: string }): SlipwayError {
  const release = o.version ? `${o.version} (${shortId(o.id)})` : `release ${shortId(o.id)}`;
  return new SlipwayError('RELEASE_UNSIGNED', `${o.environment ?? 'This environment'} requires signed releases, and ${release} is not signed.`, {
    hint: 'Build it with a signing key (signing.key in slipway.yml, or `slipway build --key`), or turn off require_signature for this environment.',
    exitCode: 2,
  });
}

/**
 * Throws unless `signature` is a valid ed25519 signature of the release's app, version and id
 * by one of `publicKeysPem`. RELEASE_UNSIGNED when there is no signature; RELEASE_SIGNATURE_INVALID
 * for an unknown key, a bad signature, a signature of another app, version or release, and a
 * signature made the old way (over the id alone), which is no longer accepted.
 */
export function verifyReleaseSignature(release: SignedRelease, signature: ReleaseSignature | null, publicKeysPem: string[]): void {
  const { id } = release;
  if (signature === null) throw releaseUnsigned({ id, version: release.version });
  const trusted = publicKeysPem.map((pem) => loadKey(pem, 'public'));
  const key = trusted.find((k) => keyIdOf(k) === signature.keyId);
  if (!key) {
    throw new SlipwayError('RELEASE_SIGNATURE_INVALID', `Release ${shortId(id)} is signed by key ${signature.keyId}, which this environment does not trust.`, {
      hint: "Add that key's .pub file to the environment's public_keys, or build the release again with a trusted key.",
    });
  }
  const verifies = (text: Buffer): boolean => {
    try {
      return signature.alg === 'ed25519' && verify(null, text, key, Buffer.from(signature.signature, 'base64'));
    } catch {
      return false;
    }
  };
  if (verifies(releaseSignedText(release))) return;
  if (verifies(Buffer.from(id, 'ascii'))) {
    throw new SlipwayError('RELEASE_SIGNATURE_INVALID', `Release ${release.version} (${shortId(id)}) was signed the old way, over its id alone; signatures must now name the app, the version and the id.`, {
      hint: 'Build and publish it again with the signing key (`slipway build` with signing.key set, then publish) so that it carries a new signature.',
    });
  }
  throw new SlipwayError('RELEASE_SIGNATURE_INVALID', `The signature of release ${release.version} (${shortId(id)}) of ${release.app} (key ${signature.keyId}) does not verify.`, {
    hint: 'The release or its signature was changed after signing, or the signature is of another app, version or release. Do not deploy it; build and sign it again.',
  });
}

/**
 * RELEASE_WRONG_APP: a manifest names another app than the project's. Refused before the host
 * or the store changes, signed or not (a trusted key may sign several apps).
 */
export function releaseWrongApp(o: { id: string; expected: string; actual: string; where?: string }): SlipwayError {
  return new SlipwayError('RELEASE_WRONG_APP', `release ${shortId(o.id)} is a release of ${JSON.stringify(o.actual)}, not of ${JSON.stringify(o.expected)}; refused, nothing was changed${o.where ? ` on ${o.where}` : ''}`, {
    hint: `deploy a release built from ${o.expected}'s repository; if the store holds another app's release under this app's name, remove it and publish again`,
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Paths of a key pair written by writeKeyPair, and its key id. */
export interface WrittenKeyPair {
  keyId: string;
  /** path of <name>.key */
  privateKey: string;
  /** path of <name>.pub */
  publicKey: string;
}

/** Writes a new key pair as <dir>/<name>.key (0600) and <dir>/<name>.pub (0644); never overwrites. */
export async function writeKeyPair(dir: string, name: string): Promise<WrittenKeyPair> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw usageError('SIGNING_KEY_NAME_INVALID', `"${name}" is not a usable key name.`, { hint: 'Use letters, digits, dots, dashes and underscores.' });
  }
  const privateKeyPath = path.join(dir, `${name}.key`);
  const publicKeyPath = path.join(dir, `${name}.pub`);
  for (const file of [privateKeyPath, publicKeyPath]) {
    if (await exists(file)) {
      throw usageError('SIGNING_KEY_EXISTS', `${file} already exists; slipway never overwrites a key.`, {
        hint: 'Choose another name, or move the old key away first (releases signed with it need its .pub to verify).',
      });
    }
  }
  const pair = generateSigningKeyPair();
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // 'wx' refuses to follow or replace anything created since the check above.
    await writeFile(privateKeyPath, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await chmod(privateKeyPath, 0o600);
    await writeFile(publicKeyPath, pair.publicKeyPem, { mode: 0o644, flag: 'wx' });
    await chmod(publicKeyPath, 0o644);
  } catch (error) {
    throw new SlipwayError('SIGNING_KEY_WRITE_FAILED', `cannot write the key pair in ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      exitCode: 2,
      cause: error,
      hint: 'choose a writable folder with --dir (or check SLIPWAY_HOME)',
    });
  }
  return { keyId: pair.keyId, privateKey: privateKeyPath, publicKey: publicKeyPath };
}

/** Reads a signing key file, refusing one that others can read (it signs what production runs). */
/**
 * PUBLIC_KEY_UNREADABLE: a file of an environment's public_keys cannot be read.
 * Exit code 2: a configuration error, nothing was done.
 */
export function publicKeyUnreadable(o: { file: string; environment: string; cause?: unknown }): SlipwayError {
  return new SlipwayError('PUBLIC_KEY_UNREADABLE', `cannot read the public key ${o.file} of ${o.environment}`, {
    exitCode: 2,
    cause: o.cause,
    hint: `fix environments.${o.environment}.public_keys in slipway.yml (paths are relative to it)`,
  });
}

export async function readSigningKeyFile(file: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(file)).mode;
  } catch (error) {
    throw new SlipwayError('KEY_NOT_FOUND', `cannot read the signing key ${file}`, {
      exitCode: 2,
      cause: error,
      hint: 'make one with `slipway keys generate`, or fix signing.key in slipway.yml',
    });
  }
  if ((mode & 0o077) !== 0) {
    throw new SlipwayError('KEY_PERMISSIONS', `the signing key ${file} is readable by others (mode ${(mode & 0o777).toString(8)})`, {
      exitCode: 2,
      hint: `run \`chmod 600 ${file}\``,
    });
  }
  return readFile(file, 'utf8');
}
