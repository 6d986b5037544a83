/**
 * Fetching an off-site copy back into backups/<id>/, so it restores like a local
 * backup. What a fetch trusts comes from the encrypted files (GCM authenticates each
 * one) and backup.json inside them; index.json must agree with them or the copy is refused.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { BackupRecord, Ledger, OffsiteCopyRecord } from '../host/ledger.js';
import { BACKUP_MANIFEST_FILE, backupDir, readBackupManifest, recordOf, type BackupManifest } from './backup-manifest.js';
import { backupKeyId, decryptFile } from './encryption.js';
import { fsyncDir } from './file-stream.js';
import { OFFSITE_INDEX_FILE, readIndex, type OffsiteIndex } from './offsite-index.js';
import { ENCRYPTED_SUFFIX, offsitePrefix, storeFailed, type StoreTarget } from './offsite-store.js';
import { loadIntactBackup } from './restore.js';

export interface FetchOffsiteBackupOptions extends StoreTarget {
  layout: HostLayout;
  ledger: Ledger;
  backupId: string;
  key: Buffer;
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

function offsiteCorrupt(o: StoreTarget & { backupId: string }, why: string, cause?: unknown): SlipwayError {
  return new SlipwayError('BACKUP_CORRUPT', `The off-site copy of backup ${o.backupId} in ${o.store.description} is damaged: ${why}.`, {
    hint: 'Nothing was written to this host. Use another backup (`slipway backups <env> --offsite`), and check who can write to the store.',
    cause,
  });
}
