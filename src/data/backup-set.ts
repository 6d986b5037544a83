/**
 * Takes a backup of every database and folder of an environment: backups/<id>/ with
 * one file per item and backup.json. Each file is read back (its sha256 must match
 * what was written) and checked structurally, reading all of it (pg_restore over the
 * whole archive, integrity_check of the SQLite copy, the complete tar, the complete
 * dump); the fingerprints of that read are recorded for later verifies.
 *
 * The folder is assembled under a temporary name and renamed into place only when
 * everything passed; then the catalog records it. On any failure nothing is left:
 * a backup is never reported that does not exist, match its checksum and verify.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DataConfig } from '../config/types.js';
import { hashFile } from '../release/file-hash.js';
import type { HostLayout } from '../host/layout.js';
import type { BackupRecord, Ledger } from '../host/ledger.js';
import { BACKUP_MANIFEST_FILE, backupSetDigest, newBackupId, recordOf, type BackupManifest, type BackupManifestItem } from './backup-manifest.js';
import { corruptBackup, nothingConfiguredToBackUp } from './data-errors.js';
import { engineFor, engineSuffix } from './engines/index.js';
import { diskFullError, fsyncDir, fsyncFile, isDiskFull } from './file-stream.js';
import { dataItems, itemFileNames } from './items.js';
import type { BackupReason, DataEnv, ProgressListener } from './types.js';

export interface CreateBackupOptions {
  layout: HostLayout;
  ledger: Ledger;
  /** the environment's name, recorded with the backup */
  environment: string;
  data: DataConfig;
  /** the app's environment: connection URLs (by `urlEnv`) and PATH for the tools */
  env: DataEnv;
  /** the release serving when the backup is taken (null on a host with none) */
  releaseId: string | null;
  releaseVersion?: string | null;
  reason: BackupReason;
  /** the deployment it is taken for (pre-deploy/post-deploy): lets rollback --with-data find it */
  deploymentId?: number | null;
  onProgress?: ProgressListener;
}

export async function createBackup(o: CreateBackupOptions): Promise<BackupRecord> {
  const items = dataItems({ data: o.data, sharedDir: o.layout.sharedDir });
  if (items.length === 0) {
    throw nothingConfiguredToBackUp({ version: o.releaseVersion });
  }
  const started = performance.now();
  const createdAt = new Date();
  const id = newBackupId(createdAt);
  await fs.mkdir(o.layout.backupsDir, { recursive: true, mode: 0o700 });
  const finalDir = path.join(o.layout.backupsDir, id);
  const workDir = path.join(o.layout.backupsDir, `.${id}.partial`);
  await fs.mkdir(workDir, { mode: 0o700 });

  let renamed = false;
  try {
    const files = itemFileNames(items, engineSuffix);
    const manifestItems: BackupManifestItem[] = [];
    for (const [index, item] of items.entries()) {
      const engine = engineFor(item);
      const file = path.join(workDir, files[index]);
      const written = await engine.backup({ item, outFile: file, env: o.env, onProgress: o.onProgress });
      o.onProgress?.({ item: item.name, phase: 'check', bytes: 0, totalBytes: written.bytes });
      const reread = await hashFile(file);
      if (reread.sha256 !== written.sha256 || reread.size !== written.bytes) {
        throw corruptBackup(file, 'reading it back gave other bytes than were written (a failing disk?)');
      }
      const fingerprint = await engine.inspect({ item, file, env: o.env });
      o.onProgress?.({ item: item.name, phase: 'check', bytes: written.bytes, totalBytes: written.bytes });
      manifestItems.push({
        name: item.name,
        kind: item.kind,
        engine: item.engine,
        file: files[index],
        size: written.bytes,
        sha256: written.sha256,
        tool: written.tool,
        fingerprint,
      });
    }

    const manifest: BackupManifest = {
      format: 1,
      id,
      environment: o.environment,
      release: o.releaseId === null ? null : { id: o.releaseId, version: o.releaseVersion ?? null },
      reason: o.reason,
      createdAt: createdAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
      deploymentId: o.deploymentId ?? null,
      size: manifestItems.reduce((sum, item) => sum + item.size, 0),
      sha256: backupSetDigest(manifestItems),
      items: manifestItems,
    };
    const manifestFile = path.join(workDir, BACKUP_MANIFEST_FILE);
    try {
      await fs.writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      await fsyncFile(manifestFile);
      await fsyncDir(workDir);
      await fs.rename(workDir, finalDir);
      renamed = true;
      await fsyncDir(o.layout.backupsDir);
    } catch (error) {
      if (isDiskFull(error)) throw diskFullError(manifestFile, error);
      throw error;
    }

    const record = recordOf(manifest, new Date().toISOString());
    o.ledger.recordBackup(record);
    return record;
  } catch (error) {
    await fs.rm(renamed ? finalDir : workDir, { recursive: true, force: true });
    throw error;
  }
}
