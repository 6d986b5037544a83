/**
 * Restores a backup over an environment's live data. Before anything is touched:
 * backup.json must parse and match the catalog, every file must have its recorded
 * sha256 (so it is byte for byte the file that passed its structural check when it
 * was taken), and every item must have a configured database or folder to go to.
 * A corrupted backup is refused with BACKUP_CORRUPT and the data stays as it was.
 *
 * Items are restored in backup order (databases, then folders). The app must be
 * stopped or switched away (the pipeline does that); code and data switching
 * together is the caller's job.
 */
import path from 'node:path';
import type { DataConfig } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { Ledger } from '../host/ledger.js';
import { backupDir, readBackupManifest, type BackupManifest } from './backup-manifest.js';
import { checkBackupFiles } from './backup-integrity.js';
import { engineFor } from './engines/index.js';
import { dataItems, findItem, itemKey } from './items.js';
import type { DataEnv, DataItem, ProgressListener } from './types.js';

export interface RestoreBackupOptions {
  /** the host restored into (its shared/ folder); also where the backup is, unless `backupDir` says otherwise */
  layout: HostLayout;
  /** when given, the catalog's entry for the backup must agree with backup.json */
  ledger?: Ledger | null;
  backupId: string;
  /** the target environment's data section: where each backed-up item goes */
  data: DataConfig;
  env: DataEnv;
  /** a backup folder elsewhere (copying production's backup into staging) */
  backupDir?: string;
  onProgress?: ProgressListener;
}

export interface RestoreResult {
  backup: BackupManifest;
  /** item names restored, in order */
  restored: string[];
  /** configured items the backup does not hold: left as they were */
  notInBackup: string[];
  durationMs: number;
}

/** Reads backup.json and checks every file's checksum; throws BACKUP_CORRUPT when anything differs. */
export async function loadIntactBackup(o: Pick<RestoreBackupOptions, 'layout' | 'ledger' | 'backupId' | 'backupDir'>): Promise<{ dir: string; manifest: BackupManifest }> {
  const dir = o.backupDir ?? backupDir(o.layout, o.backupId);
  const manifest = await readBackupManifest(dir);
  const catalog = o.ledger?.getBackup(manifest.id) ?? null;
  const problems = await checkBackupFiles({ dir, manifest, catalog });
  if (problems.length > 0) {
    throw new SlipwayError('BACKUP_CORRUPT', `Backup ${manifest.id} is damaged: its files differ from what was recorded when it was taken.`, {
      details: problems,
      hint: 'Do not restore from this backup; use another one (`slipway backups`). Nothing was changed.',
    });
  }
  return { dir, manifest };
}

export async function restoreBackup(o: RestoreBackupOptions): Promise<RestoreResult> {
  const started = performance.now();
  const { dir, manifest } = await loadIntactBackup(o);
  const configured = dataItems({ data: o.data, sharedDir: o.layout.sharedDir });

  const plan: Array<{ item: DataItem; file: string }> = [];
  const unmatched: string[] = [];
  for (const backedUp of manifest.items) {
    const item = findItem(configured, backedUp);
    if (item) plan.push({ item, file: path.join(dir, backedUp.file) });
    else unmatched.push(`${backedUp.kind} ${backedUp.name} (${backedUp.engine})`);
  }
  if (unmatched.length > 0) {
    throw new SlipwayError('BACKUP_ITEM_UNMATCHED', `Backup ${manifest.id} holds data this environment does not configure, so it has nowhere to restore it.`, {
      details: unmatched,
      hint: 'Add the database or folder under `data` in slipway.yml (same name and engine), or restore into an environment that has it. Nothing was changed.',
      exitCode: 2,
    });
  }

  const restored: string[] = [];
  for (const { item, file } of plan) {
    try {
      o.onProgress?.({ item: item.name, phase: 'restore', bytes: 0, totalBytes: null });
      await engineFor(item).restore({ item, file, env: o.env, onProgress: o.onProgress });
      restored.push(item.name);
    } catch (error) {
      const cause = error instanceof SlipwayError ? error : null;
      const notYet = plan.slice(restored.length + 1).map((p) => p.item.name);
      throw new SlipwayError(cause?.code ?? 'BACKUP_RESTORE_FAILED', `Restoring ${item.kind} ${item.name} from backup ${manifest.id} failed: ${cause?.message ?? (error as Error).message}`, {
        details: [
          ...(cause?.details ?? []),
          `already restored from this backup: ${restored.length ? restored.join(', ') : 'nothing'}`,
          `not restored yet: ${notYet.length ? notYet.join(', ') : 'nothing'}`,
        ],
        hint: cause?.hint ?? 'Fix the cause and restore the same backup again: a restore can be repeated.',
        cause: error,
      });
    }
  }
  const inBackup = new Set(manifest.items.map(itemKey));
  return {
    backup: manifest,
    restored,
    notInBackup: configured.filter((item) => !inBackup.has(itemKey(item))).map((item) => item.name),
    durationMs: Math.round(performance.now() - started),
  };
}
