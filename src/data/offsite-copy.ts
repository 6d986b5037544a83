/**
 * Copying one backup off-site. Files are encrypted one at a time into a temporary
 * folder beside the backup and removed once uploaded, so the extra disk needed is one
 * file's size; index.json is uploaded last.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { Ledger } from '../host/ledger.js';
import { BACKUP_MANIFEST_FILE, backupDir } from './backup-manifest.js';
import { getBackup } from './catalog.js';
import { backupKeyId, encryptFile } from './encryption.js';
import { OFFSITE_INDEX_FILE, readIndex, sameFiles, type OffsiteIndex } from './offsite-index.js';
import { ENCRYPTED_SUFFIX, offsitePrefix, type StoreTarget } from './offsite-store.js';
import { loadIntactBackup } from './restore.js';

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

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function uploadFailed(o: StoreTarget & { backupId: string }, error: unknown, doing: string): SlipwayError {
  const cause = error instanceof SlipwayError ? error : null;
  return new SlipwayError('OFFSITE_UPLOAD_FAILED', `Off-site copy to ${o.store.description} failed while ${doing}: ${(error as Error)?.message ?? String(error)}`, {
    hint: `${cause?.hint ? `${cause.hint} ` : ''}The backup on this host is unaffected and no partial copy is listed; the copy is tried again after the next backup.`,
    details: cause?.details,
    cause: error,
  });
}
