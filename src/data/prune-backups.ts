/**
 * `slipway backup prune` and the pipeline's last step: applies the retention policy
 * to the catalog and deletes what it does not keep. Leftovers of interrupted backups
 * (backups/.<id>.partial) older than a day are removed too.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { HostLayout } from '../host/layout.js';
import type { BackupRecord, Ledger } from '../host/ledger.js';
import { deleteBackup, protectedBackupIds } from './catalog.js';
import { selectBackupsToPrune, type KeepReason, type RetentionPolicy } from './retention.js';

export interface PruneBackupsResult {
  pruned: BackupRecord[];
  kept: Array<{ backup: BackupRecord; reasons: KeepReason[] }>;
  /** interrupted backups' folders removed */
  leftovers: string[];
}

const LEFTOVER_AGE_MS = 86_400_000;

export async function pruneBackups(o: {
  layout: HostLayout;
  ledger: Ledger;
  policy: RetentionPolicy;
  /** only this environment's backups (a host folder normally holds one) */
  environment?: string;
  now?: Date;
  /** decide and report, delete nothing */
  dryRun?: boolean;
}): Promise<PruneBackupsResult> {
  const now = o.now ?? new Date();
  const backups = o.ledger.listBackups({ environment: o.environment });
  const decision = selectBackupsToPrune(backups, o.policy, now, protectedBackupIds(o.ledger));
  const leftovers: string[] = [];
  if (!o.dryRun) {
    for (const backup of decision.prune) await deleteBackup({ layout: o.layout, ledger: o.ledger, id: backup.id });
    leftovers.push(...(await removeLeftovers(o.layout, now)));
  }
  return { pruned: decision.prune, kept: decision.keep, leftovers };
}

async function removeLeftovers(layout: HostLayout, now: Date): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(layout.backupsDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!/^\..+\.(partial|deleting-[0-9a-f]+)$/.test(name)) continue;
    const full = path.join(layout.backupsDir, name);
    const stat = await fs.stat(full).catch(() => null);
    if (!stat || now.getTime() - stat.mtimeMs < LEFTOVER_AGE_MS) continue;
    await fs.rm(full, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
