/**
 * Off-site copies of backups in the environment's store (a local folder or an S3
 * bucket), encrypted with AES-256-GCM under the environment's backup key, and the
 * way back: fetch a copy into backups/<id>/ so it restores like a local backup.
 *
 * In the store, under <app>/backups/<env>/<id>/:
 *   <file>.enc   each item file and backup.json, encrypted (src/data/encryption.ts)
 *   index.json   unencrypted and uploaded last: id, release, dates, key id, and the
 *                plaintext sha256 and size of every file (never the key)
 * A copy without index.json is incomplete and never listed. Files are encrypted one at
 * a time into a temporary folder beside the backup and removed once uploaded, so the
 * extra disk needed is one file's size.
 *
 * index.json is not authenticated; what a fetch trusts comes from the encrypted files
 * (GCM authenticates each one) and backup.json inside them: the file list, each
 * file's digest, the backup's id. The index must agree with them or the copy is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { EnvironmentConfig } from '../config/types.js';
import { SlipwayError, registerSecret } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { BackupRecord, Ledger, OffsiteCopyRecord } from '../host/ledger.js';
import type { BlobStore } from '../store/blob-store.js';
import { BACKUP_MANIFEST_FILE, backupDir, invalidBackupId, isBackupId, readBackupManifest, recordOf, type BackupManifest } from './backup-manifest.js';
import { getBackup } from './catalog.js';
import { backupKeyId, decryptFile, encryptFile, parseBackupKey } from './encryption.js';
import { fsyncDir } from './file-stream.js';
import { loadIntactBackup } from './restore.js';
import { BACKUP_REASONS } from './types.js';

export const OFFSITE_INDEX_FILE = 'index.json';
const ENCRYPTED_SUFFIX = '.enc';
const STORE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
const FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const indexSchema = z.object({
  format: z.literal(1),
  id: z.string().refine(isBackupId),
  environment: z.string(),
  release: z.object({ id: z.string(), version: z.string().nullable() }).nullable(),
  reason: z.enum(BACKUP_REASONS as [string, ...string[]]),
  createdAt: z.string(),
  verifiedAt: z.string().nullable(),
  copiedAt: z.string(),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.array(z.object({ name: z.string().regex(FILE_NAME_PATTERN), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() })),
});

/** index.json of an off-site copy: what `backups --offsite` lists. */
export interface OffsiteIndex {
  format: 1;
  id: string;
  environment: string;
  release: { id: string; version: string | null } | null;
  reason: BackupRecord['reason'];
  createdAt: string;
  /** when the backup had last passed a check, as the catalog said when it was copied */
  verifiedAt: string | null;
  copiedAt: string;
  /** id of the key the files are encrypted with (first 16 hex digits of its sha256) */
  keyId: string;
  /** plaintext bytes of the item files, and the backup's digest (as in backup.json) */
  size: number;
  sha256: string;
  /** every file, plaintext digest and size; each is stored as <name>.enc, backup.json last */
  files: Array<{ name: string; sha256: string; size: number }>;
}

interface StoreTarget {
  store: BlobStore;
  app: string;
  environment: string;
}

export interface CopyBackupOffsiteOptions extends StoreTarget {
  layout: HostLayout;
  ledger: Ledger;
  backupId: string;
  key: Buffer;
}

export interface CopyBackupOffsiteResult {
  keyId: string;
  /** store keys written, index.json last */
  objects: string[];
  /** encrypted bytes uploaded */
  bytes: number;
  /** the store already held a complete copy under this key: nothing was uploaded */
  alreadyThere: boolean;
}

export interface FetchOffsiteBackupOptions extends StoreTarget {
  layout: HostLayout;
  ledger: Ledger;
  backupId: string;
  key: Buffer;
}

/** Are off-site copies on for this environment (`offsite_backups`, default: on when backup_key_env is set)? */
export function offsiteEnabled(environment: EnvironmentConfig): boolean {
  return environment.offsiteBackups ?? environment.backupKeyEnv !== undefined;
}

/**
 * The environment's backup key from `env` (the host's env file and the agent's
 * environment), registered for redaction. BACKUP_KEY_MISSING names the variable.
 */
export function backupKeyFromEnv(o: { environment: EnvironmentConfig; env: Readonly<Record<string, string | undefined>> }): Buffer {
  const name = o.environment.backupKeyEnv;
  if (name === undefined) {
    throw new SlipwayError('BACKUP_KEY_NOT_CONFIGURED', `Environment ${o.environment.name} has no backup encryption key configured.`, {
      hint: `Add backup_key_env: SLIPWAY_BACKUP_KEY under environments.${o.environment.name} in slipway.yml and put a key made with \`openssl rand -base64 32\` in that variable.`,
      exitCode: 2,
    });
  }
  const text = o.env[name];
  if (text === undefined || text.trim() === '') {
    throw new SlipwayError('BACKUP_KEY_MISSING', `${name}, which holds the backup encryption key of ${o.environment.name}, is not set.`, {
      hint: `Set ${name} in the host's env file (shared/.env) or the agent's environment (a key made with \`openssl rand -base64 32\`); keep a copy elsewhere: without it the off-site copies cannot be read.`,
      exitCode: 2,
    });
  }
  registerSecret(text);
  registerSecret(text.trim());
  try {
    return parseBackupKey(text);
  } catch (error) {
    const cause = error as SlipwayError;
    throw new SlipwayError(cause.code ?? 'BACKUP_KEY_INVALID', `${name}: ${cause.message}`, { hint: cause.hint, exitCode: 2, cause: error });
  }
}

/** `<app>/backups/<env>/` or, with an id, `<app>/backups/<env>/<id>/`. */
export function offsitePrefix(o: { app: string; environment: string; backupId?: string }): string {
  for (const [what, name] of [['app', o.app], ['environment', o.environment]] as const) {
    if (!STORE_NAME_PATTERN.test(name)) {
      throw new SlipwayError('STORE_BAD_KEY', `refusing the ${what} name "${name}" in a store key`, { hint: 'this is a bug in slipway; please report it' });
    }
  }
  const base = `${o.app}/backups/${o.environment}/`;
  if (o.backupId === undefined) return base;
  if (!isBackupId(o.backupId)) throw invalidBackupId(o.backupId);
  return `${base}${o.backupId}/`;
}

/**
 * Encrypts the backup's files and uploads them, index.json last, then records the
 * copy in the catalog. The backup's files are checked against backup.json first, so
 * a damaged backup is never shipped (BACKUP_CORRUPT). A complete copy under the same
 * key is not uploaded again; one under another key is replaced (unlisted first). On
 * failure nothing is listed: index.json is the last object written, the objects
 * already sent are deleted (best effort), and the error is OFFSITE_UPLOAD_FAILED
 * naming the store.
 */
export async function copyBackupOffsite(o: CopyBackupOffsiteOptions): Promise<CopyBackupOffsiteResult> {
  const dir = backupDir(o.layout, o.backupId);
  const record = getBackup(o.ledger, o.backupId);
  const { manifest } = await loadIntactBackup({ layout: o.layout, ledger: o.ledger, backupId: o.backupId });
  const keyId = backupKeyId(o.key);
  const prefix = offsitePrefix({ app: o.app, environment: o.environment, backupId: o.backupId });
  const indexKey = `${prefix}${OFFSITE_INDEX_FILE}`;

  const manifestBytes = await fs.readFile(path.join(dir, BACKUP_MANIFEST_FILE));
  const files = [
    ...manifest.items.map((item) => ({ name: item.file, sha256: item.sha256, size: item.size })),
    // backup.json goes last: a fetch reads it first, and it lists the others.
    { name: BACKUP_MANIFEST_FILE, sha256: sha256(manifestBytes), size: manifestBytes.length },
  ];
  const objects = [...files.map((file) => `${prefix}${file.name}${ENCRYPTED_SUFFIX}`), indexKey];

  let existing: OffsiteIndex | null = null;
  try {
    existing = await readIndex(o.store, indexKey);
  } catch (error) {
    if (!(error instanceof SlipwayError && error.code === 'BACKUP_CORRUPT')) throw uploadFailed(o, error, 'reading what it already holds');
  }
  if (existing && existing.keyId === keyId && existing.sha256 === manifest.sha256 && sameFiles(existing.files, files)) {
    o.ledger.markBackupOffsite(o.backupId, { key: prefix, keyId, at: existing.copiedAt });
    return { keyId, objects, bytes: 0, alreadyThere: true };
  }

  // Named like an interrupted backup's folder, so `backup prune` removes it if the process dies here.
  const work = path.join(o.layout.backupsDir, `.${o.backupId}.offsite-${randomBytes(3).toString('hex')}.partial`);
  const uploaded: string[] = [];
  let bytes = 0;
  try {
    // Another key, or another backup under this id: unlist it before its objects change.
    if (existing) await o.store.delete(indexKey);
    await fs.mkdir(work, { mode: 0o700 });
    for (const file of files) {
      const encrypted = path.join(work, `${file.name}${ENCRYPTED_SUFFIX}`);
      const written = await encryptFile({ input: path.join(dir, file.name), output: encrypted, key: o.key });
      const objectKey = `${prefix}${file.name}${ENCRYPTED_SUFFIX}`;
      uploaded.push(objectKey);
      await o.store.putFile(objectKey, encrypted);
      bytes += written.bytes;
      await fs.rm(encrypted, { force: true });
    }
    const copiedAt = new Date().toISOString();
    const index: OffsiteIndex = {
      format: 1,
      id: manifest.id,
      environment: manifest.environment,
      release: manifest.release,
      reason: manifest.reason,
      createdAt: manifest.createdAt,
      verifiedAt: record.verifiedAt,
      copiedAt,
      keyId,
      size: manifest.size,
      sha256: manifest.sha256,
      files,
    };
    uploaded.push(indexKey);
    await o.store.put(indexKey, `${JSON.stringify(index, null, 2)}\n`);
    o.ledger.markBackupOffsite(o.backupId, { key: prefix, keyId, at: copiedAt });
    return { keyId, objects, bytes, alreadyThere: false };
  } catch (error) {
    // index.json first: whatever else is left behind is never listed.
    for (const key of [...uploaded].reverse()) await o.store.delete(key).catch(() => undefined);
    throw uploadFailed(o, error, `copying backup ${o.backupId}`);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The complete off-site copies of an environment, newest first. Copies whose index.json is unreadable are left out. */
export async function listOffsiteBackups(o: StoreTarget): Promise<OffsiteIndex[]> {
  const base = offsitePrefix(o);
  let keys: string[];
  try {
    keys = await o.store.list(base);
  } catch (error) {
    throw storeFailed('OFFSITE_LIST_FAILED', o, error, 'listing the off-site backups');
  }
  const indexKeys = keys.filter((key) => {
    const rest = key.slice(base.length).split('/');
    return key.startsWith(base) && rest.length === 2 && rest[1] === OFFSITE_INDEX_FILE && isBackupId(rest[0]);
  });
  const entries: OffsiteIndex[] = [];
  for (const key of indexKeys) {
    try {
      const index = await readIndex(o.store, key);
      if (index && `${base}${index.id}/${OFFSITE_INDEX_FILE}` === key) entries.push(index);
    } catch (error) {
      if (!(error instanceof SlipwayError && error.code === 'BACKUP_CORRUPT')) throw storeFailed('OFFSITE_LIST_FAILED', o, error, 'listing the off-site backups');
    }
  }
  return entries.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/**
 * Downloads an off-site copy into backups/<id>/ and records it in the catalog, so it
 * restores like a local backup. The key id is checked before anything is downloaded
 * (BACKUP_KEY_MISMATCH); the files are decrypted into a temporary folder, checked
 * (authentication, each digest against backup.json and the index, backup.json against
 * the catalog) and renamed into place only when all passed: on BACKUP_CORRUPT nothing
 * is left. An intact local copy is kept as it is; a damaged one is replaced.
 */
export async function fetchOffsiteBackup(o: FetchOffsiteBackupOptions): Promise<BackupRecord & { fetched: boolean }> {
  const finalDir = backupDir(o.layout, o.backupId);
  const prefix = offsitePrefix({ app: o.app, environment: o.environment, backupId: o.backupId });
  let index: OffsiteIndex | null;
  try {
    index = await readIndex(o.store, `${prefix}${OFFSITE_INDEX_FILE}`);
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    throw storeFailed('OFFSITE_DOWNLOAD_FAILED', o, error, `reading the off-site copy of backup ${o.backupId}`);
  }
  if (!index) {
    throw new SlipwayError('OFFSITE_BACKUP_NOT_FOUND', `The store ${o.store.description} holds no complete copy of backup ${o.backupId} of ${o.environment}.`, {
      hint: `\`slipway backups ${o.environment} --offsite\` lists the copies it holds.`,
      exitCode: 2,
    });
  }
  if (index.id !== o.backupId) throw offsiteCorrupt(o, `its index.json describes backup ${index.id}`);
  const keyId = backupKeyId(o.key);
  if (index.keyId !== keyId) {
    throw new SlipwayError('BACKUP_KEY_MISMATCH', `The off-site copy of backup ${o.backupId} was encrypted with the key whose id is ${index.keyId}; the key given has id ${keyId}.`, {
      hint: `Put the key with id ${index.keyId} in the variable backup_key_env names (a key's id is the first 16 hex digits of the sha256 of its 32 bytes). Nothing was written.`,
    });
  }
  const offsite: OffsiteCopyRecord = { key: prefix, keyId, at: index.copiedAt };

  const local = await intactLocalCopy(o);
  if (local) return { ...recordLocal(o, local, index, offsite), fetched: false };

  await fs.mkdir(o.layout.backupsDir, { recursive: true, mode: 0o700 });
  const work = path.join(o.layout.backupsDir, `.${o.backupId}.fetch-${randomBytes(3).toString('hex')}.partial`);
  await fs.mkdir(work, { mode: 0o700 });
  let placed = false;
  try {
    const indexed = new Map(index.files.map((file) => [file.name, file]));
    // backup.json first: it is authenticated, and it says which files make the backup.
    await fetchFile(o, { prefix, work, name: BACKUP_MANIFEST_FILE, indexed });
    let manifest: BackupManifest;
    try {
      manifest = await readBackupManifest(work);
    } catch (error) {
      throw offsiteCorrupt(o, `its backup.json does not read as one: ${(error as Error).message}`, error);
    }
    if (manifest.id !== o.backupId) throw offsiteCorrupt(o, `its backup.json describes backup ${manifest.id}`);
    if (manifest.sha256 !== index.sha256) throw offsiteCorrupt(o, "its index.json's digest differs from backup.json's");
    const names = [...manifest.items.map((item) => item.file), BACKUP_MANIFEST_FILE];
    if (names.length !== index.files.length || names.some((name) => !indexed.has(name))) {
      throw offsiteCorrupt(o, 'its index.json lists other files than its backup.json');
    }
    const catalog = o.ledger.getBackup(o.backupId);
    if (catalog && catalog.sha256 !== manifest.sha256) {
      throw offsiteCorrupt(o, `its digest ${manifest.sha256.slice(0, 12)}… differs from the catalog's ${catalog.sha256.slice(0, 12)}…`);
    }
    for (const item of manifest.items) {
      await fetchFile(o, { prefix, work, name: item.file, indexed, expected: { sha256: item.sha256, size: item.size } });
    }
    await fsyncDir(work);
    await putInPlace(o.layout, work, finalDir);
    placed = true;
    return { ...recordLocal(o, manifest, index, offsite), fetched: true };
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    throw storeFailed('OFFSITE_DOWNLOAD_FAILED', o, error, `fetching backup ${o.backupId}`);
  } finally {
    if (!placed) await fs.rm(work, { recursive: true, force: true });
  }
}

/**
 * Copies every backup of the environment on this host that has no off-site copy yet,
 * newest first. Copies made under another key are left alone: a changed key never
 * silently re-encrypts (and replaces) what is in the store; copyBackupOffsite does
 * when asked. Stops at the first failure (the store is likely unreachable for the
 * rest too) and says how many are left.
 */
export async function copyPendingOffsite(
  o: StoreTarget & { layout: HostLayout; ledger: Ledger; key: Buffer; log?(line: string): void },
): Promise<{ copied: string[]; failed: { id: string | null; error: SlipwayError } | null; left: number }> {
  const keyId = backupKeyId(o.key);
  const pending = o.ledger.listBackups({ environment: o.environment }).filter((b) => !b.offsite);
  const copied: string[] = [];
  for (const [index, backup] of pending.entries()) {
    const present = await fs.stat(path.join(o.layout.backupsDir, backup.id, BACKUP_MANIFEST_FILE)).then(() => true, () => false);
    if (!present) continue; // pruned meanwhile
    try {
      const result = await copyBackupOffsite({ ...o, backupId: backup.id });
      copied.push(backup.id);
      if (!result.alreadyThere) o.log?.(`backup ${backup.id} copied off-site to ${o.store.description} (${result.bytes} bytes, key id ${keyId})`);
    } catch (error) {
      const failure = error instanceof SlipwayError ? error : new SlipwayError('OFFSITE_UPLOAD_FAILED', (error as Error).message, { cause: error });
      const left = pending.length - index - 1;
      o.log?.(`warning: backup ${backup.id} was not copied off-site: ${failure.message}${left > 0 ? ` (${left} more wait for the next try)` : ''}`);
      return { copied, failed: { id: backup.id, error: failure }, left };
    }
  }
  return { copied, failed: null, left: 0 };
}

export type CopyPendingResult = Awaited<ReturnType<typeof copyPendingOffsite>>;

export interface OffsiteCopier {
  /**
   * Copies every backup still without an off-site copy, after the pass in progress
   * (calls made while one waits share it). Never rejects: failures, a missing key
   * included, are logged and returned.
   */
  copyPending(): Promise<CopyPendingResult>;
  /** resolves when no pass runs or waits */
  idle(): Promise<void>;
}

/**
 * The agent's single writer of off-site copies: passes run one at a time, so two
 * copies of the same backup never race (one's cleanup deleting the other's objects).
 * The key is read for each pass (the env file may have changed).
 */
export function createOffsiteCopier(o: StoreTarget & { layout: HostLayout; ledger: Ledger; key(): Promise<Buffer>; log(line: string): void }): OffsiteCopier {
  let tail: Promise<unknown> = Promise.resolve();
  let waiting: Promise<CopyPendingResult> | null = null;
  async function pass(): Promise<CopyPendingResult> {
    try {
      return await copyPendingOffsite({ ...o, key: await o.key() });
    } catch (error) {
      // The key is missing or invalid, or the ledger is closing.
      const failure = error instanceof SlipwayError ? error : new SlipwayError('OFFSITE_UPLOAD_FAILED', (error as Error).message, { cause: error });
      o.log(`warning: no off-site copies: ${failure.message}${failure.hint ? ` (${failure.hint})` : ''}`);
      return { copied: [], failed: { id: null, error: failure }, left: 0 };
    }
  }
  return {
    copyPending() {
      if (waiting) return waiting;
      const run = tail.then(() => {
        waiting = null;
        return pass();
      });
      waiting = run;
      tail = run.catch(() => undefined);
      return run;
    },
    idle: () => tail.then(() => undefined),
  };
}

/** Removes an off-site copy: index.json first (so it is no longer listed), then its files. */
export async function deleteOffsiteBackup(o: StoreTarget & { backupId: string; ledger?: Ledger }): Promise<void> {
  const prefix = offsitePrefix({ app: o.app, environment: o.environment, backupId: o.backupId });
  try {
    await o.store.delete(`${prefix}${OFFSITE_INDEX_FILE}`);
    for (const key of await o.store.list(prefix)) if (key.startsWith(prefix)) await o.store.delete(key);
  } catch (error) {
    throw storeFailed('OFFSITE_DELETE_FAILED', o, error, `deleting the off-site copy of backup ${o.backupId}`);
  }
  if (o.ledger?.getBackup(o.backupId)?.offsite) o.ledger.markBackupOffsite(o.backupId, null);
}

// ---- helpers ----

async function readIndex(store: BlobStore, key: string): Promise<OffsiteIndex | null> {
  const body = await store.get(key);
  if (body === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new SlipwayError('BACKUP_CORRUPT', `${key} in the store is not valid JSON.`, { cause: error, hint: 'Use another backup; this off-site copy is damaged.' });
  }
  const result = indexSchema.safeParse(parsed);
  if (!result.success) {
    throw new SlipwayError('BACKUP_CORRUPT', `${key} in the store is not an off-site backup index: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).slice(0, 3).join('; ')}.`, {
      hint: 'Use another backup; this off-site copy is damaged.',
    });
  }
  return result.data as OffsiteIndex;
}

/** Downloads <name>.enc, decrypts it into work/<name> and checks it against the index (and backup.json's digest, when given). */
async function fetchFile(
  o: FetchOffsiteBackupOptions,
  f: { prefix: string; work: string; name: string; indexed: Map<string, OffsiteIndex['files'][number]>; expected?: { sha256: string; size: number } },
): Promise<void> {
  const entry = f.indexed.get(f.name);
  if (!entry) throw offsiteCorrupt(o, `its index.json does not list ${f.name}`);
  const objectKey = `${f.prefix}${f.name}${ENCRYPTED_SUFFIX}`;
  const encrypted = path.join(f.work, `.${f.name}${ENCRYPTED_SUFFIX}`);
  try {
    let found: boolean;
    try {
      found = await o.store.getToFile(objectKey, encrypted);
    } catch (error) {
      if (error instanceof SlipwayError && /CORRUPT|CHECKSUM|MISMATCH/.test(error.code)) throw offsiteCorrupt(o, `${objectKey}: ${error.message}`, error);
      throw storeFailed('OFFSITE_DOWNLOAD_FAILED', o, error, `downloading ${objectKey}`);
    }
    if (!found) throw offsiteCorrupt(o, `${objectKey} is missing from the store`);
    let plain: { sha256: string; bytes: number };
    try {
      plain = await decryptFile({ input: encrypted, output: path.join(f.work, f.name), key: o.key });
    } catch (error) {
      if (error instanceof SlipwayError && error.code === 'BACKUP_CORRUPT') throw offsiteCorrupt(o, `${objectKey} failed authentication: it was damaged or altered after it was encrypted`, error);
      throw error;
    }
    const wanted = [entry, ...(f.expected ? [f.expected] : [])];
    if (wanted.some((w) => w.sha256 !== plain.sha256 || w.size !== plain.bytes)) {
      throw offsiteCorrupt(o, `${f.name} decrypted to other bytes than were recorded (sha256 ${plain.sha256.slice(0, 12)}…)`);
    }
  } finally {
    await fs.rm(encrypted, { force: true });
  }
}

/** The local folder of the backup when it is there and intact, else null (absent, or damaged and to be replaced). */
async function intactLocalCopy(o: FetchOffsiteBackupOptions): Promise<BackupManifest | null> {
  const present = await fs.stat(path.join(backupDir(o.layout, o.backupId), BACKUP_MANIFEST_FILE)).then(() => true, () => false);
  if (!present) return null;
  try {
    return (await loadIntactBackup({ layout: o.layout, ledger: o.ledger, backupId: o.backupId })).manifest;
  } catch {
    return null;
  }
}

/** Into the catalog (or, when it is already there, the off-site copy noted). */
function recordLocal(o: FetchOffsiteBackupOptions, manifest: BackupManifest, index: OffsiteIndex, offsite: OffsiteCopyRecord): BackupRecord {
  const existing = o.ledger.getBackup(manifest.id);
  if (existing) {
    o.ledger.markBackupOffsite(manifest.id, offsite);
    return { ...existing, offsite };
  }
  // Byte for byte the files that passed their checks when the backup was taken: that check stands.
  const record: BackupRecord = { ...recordOf(manifest, index.verifiedAt), offsite };
  o.ledger.recordBackup(record);
  return record;
}

/** work → backups/<id>; a damaged folder already there is moved aside first, then removed. */
async function putInPlace(layout: HostLayout, work: string, finalDir: string): Promise<void> {
  const aside = path.join(layout.backupsDir, `.${path.basename(finalDir)}.deleting-${randomBytes(3).toString('hex')}`);
  let movedAside = false;
  try {
    await fs.rename(finalDir, aside);
    movedAside = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await fs.rename(work, finalDir);
  await fsyncDir(layout.backupsDir);
  if (movedAside) await fs.rm(aside, { recursive: true, force: true });
}

function sameFiles(a: OffsiteIndex['files'], b: OffsiteIndex['files']): boolean {
  return a.length === b.length && a.every((file, i) => file.name === b[i].name && file.sha256 === b[i].sha256 && file.size === b[i].size);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function offsiteCorrupt(o: StoreTarget & { backupId: string }, why: string, cause?: unknown): SlipwayError {
  return new SlipwayError('BACKUP_CORRUPT', `The off-site copy of backup ${o.backupId} in ${o.store.description} is damaged: ${why}.`, {
    hint: 'Nothing was written to this host. Use another backup (`slipway backups <env> --offsite`), and check who can write to the store.',
    cause,
  });
}

function uploadFailed(o: StoreTarget & { backupId: string }, error: unknown, doing: string): SlipwayError {
  const cause = error instanceof SlipwayError ? error : null;
  return new SlipwayError('OFFSITE_UPLOAD_FAILED', `Off-site copy to ${o.store.description} failed while ${doing}: ${(error as Error)?.message ?? String(error)}`, {
    hint: `${cause?.hint ? `${cause.hint} ` : ''}The backup on this host is unaffected and no partial copy is listed; the copy is tried again after the next backup.`,
    details: cause?.details,
    cause: error,
  });
}

function storeFailed(code: string, o: StoreTarget, error: unknown, doing: string): SlipwayError {
  const cause = error instanceof SlipwayError ? error : null;
  return new SlipwayError(code, `${doing[0].toUpperCase()}${doing.slice(1)} in ${o.store.description} failed: ${(error as Error)?.message ?? String(error)}`, {
    hint: cause?.hint ?? 'Check that the store is reachable (and its credentials), then try again.',
    details: cause?.details,
    cause: error,
  });
}
