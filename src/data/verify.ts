/**
 * `slipway backup verify <id>`: proves a backup restores to the data it was taken
 * from. Every file's checksum first; then each item is restored into a scratch
 * database or folder (never the live one), fingerprinted, and compared with the
 * fingerprint recorded in backup.json when the backup was taken.
 *
 * What that recorded fingerprint is: the data as the backup file holds it, read from
 * the file itself at creation (pg_restore's COPY rows, the dump's INSERT tuples, the
 * SQLite copy, the tar entries). It is the backup's own snapshot, so writes the app
 * made while the backup ran cannot make it differ; the scratch side is rendered by
 * the same tools from a real restore, so a mismatch means the restore does not give
 * back what was backed up.
 */
import path from 'node:path';
import type { DataConfig } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { Ledger } from '../host/ledger.js';
import { backupDir, readBackupManifest, type BackupManifest, type BackupManifestItem } from './backup-manifest.js';
import { checkBackupFiles } from './backup-integrity.js';
import { engineFor } from './engines/index.js';
import { compareFingerprints } from './fingerprint.js';
import { dataItems, findItem } from './items.js';
import type { DataEnv, DataItem, ProgressListener } from './types.js';

export interface VerifyBackupOptions {
  layout: HostLayout;
  /** when given: the catalog entry is checked against backup.json, and verifiedAt is set when the backup passes */
  ledger?: Ledger | null;
  backupId: string;
  /** databases are restored into scratch databases on the servers these name */
  data: DataConfig;
  env: DataEnv;
  backupDir?: string;
  onProgress?: ProgressListener;
}

export interface VerifyReport {
  id: string;
  ok: boolean;
  /** ISO 8601 */
  checkedAt: string;
  /** problems of the backup as a whole (damaged files, catalog mismatch) */
  problems: string[];
  items: Array<{ name: string; engine: string; ok: boolean; problems: string[] }>;
}

/**
 * Resolves to a report (ok or not) for a damaged or non-restoring backup; throws when
 * the check itself cannot run (no such backup, a tool or the database server missing).
 */
export async function verifyBackup(o: VerifyBackupOptions): Promise<VerifyReport> {
  const report = await checkBackup(o);
  // A backup that fails a check is no longer "verified": retention must not keep it as the newest verified one.
  if (!report.ok) o.ledger?.markBackupVerified(report.id, null);
  return report;
}

async function checkBackup(o: VerifyBackupOptions): Promise<VerifyReport> {
  const dir = o.backupDir ?? backupDir(o.layout, o.backupId);
  const checkedAt = new Date().toISOString();
  let manifest: BackupManifest;
  try {
    manifest = await readBackupManifest(dir);
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'BACKUP_CORRUPT') {
      return { id: o.backupId, ok: false, checkedAt, problems: [error.message], items: [] };
    }
    throw error;
  }

  const problems = await checkBackupFiles({ dir, manifest, catalog: o.ledger?.getBackup(manifest.id) ?? null });
  if (problems.length > 0) {
    // A damaged file is not restored anywhere, not even into a scratch database.
    return { id: manifest.id, ok: false, checkedAt, problems, items: [] };
  }

  const configured = dataItems({ data: o.data, sharedDir: o.layout.sharedDir });
  const items: VerifyReport['items'] = [];
  for (const backedUp of manifest.items) {
    const item = scratchTarget(backedUp, configured, dir);
    if (!item) {
      items.push({ name: backedUp.name, engine: backedUp.engine, ok: false, problems: [`no ${backedUp.engine} database named ${backedUp.name} is configured to verify against`] });
      continue;
    }
    o.onProgress?.({ item: backedUp.name, phase: 'verify', bytes: 0, totalBytes: backedUp.size });
    let itemProblems: string[];
    try {
      const actual = await engineFor(item).scratchFingerprint({ item, file: path.join(dir, backedUp.file), env: o.env, onProgress: o.onProgress });
      itemProblems = compareFingerprints({ expected: backedUp.fingerprint, actual, what: backedUp.kind === 'folder' ? 'path' : 'table' });
    } catch (error) {
      if (!(error instanceof SlipwayError && error.code === 'BACKUP_CORRUPT')) throw error;
      itemProblems = [error.message];
    }
    items.push({ name: backedUp.name, engine: backedUp.engine, ok: itemProblems.length === 0, problems: itemProblems });
  }

  const ok = items.every((item) => item.ok);
  if (ok) o.ledger?.markBackupVerified(manifest.id, checkedAt);
  return { id: manifest.id, ok, checkedAt, problems: [], items };
}

/**
 * Server databases verify on the configured server. SQLite files and folders verify in
 * scratch space beside the backup and never read the item's own path, so a backup of
 * an item no longer configured can still be verified.
 */
function scratchTarget(backedUp: BackupManifestItem, configured: readonly DataItem[], dir: string): DataItem | null {
  const item = findItem(configured, backedUp);
  if (item) return item;
  const unused = path.join(dir, backedUp.file);
  if (backedUp.engine === 'sqlite') return { kind: 'database', name: backedUp.name, engine: 'sqlite', file: unused };
  if (backedUp.engine === 'files') return { kind: 'folder', name: backedUp.name, engine: 'files', dir: unused };
  return null;
}
