/**
 * The backup catalog: the ledger's `backups` table (the record `slipway backups`
 * reads) kept in step with the backups/ folder, and the questions the pipeline asks
 * of it (which backup undoes this deployment, which ones must never be pruned).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { HostLayout } from '../host/layout.js';
import type { BackupRecord, Ledger } from '../host/ledger.js';
import { backupDir } from './backup-manifest.js';
import { backupNotFound } from './data-errors.js';
import { SlipwayError } from '../errors.js';

export type { BackupItemRecord, BackupRecord } from '../host/ledger.js';

/** Newest first. */
export function listBackups(ledger: Ledger, o: { environment?: string } = {}): BackupRecord[] {
  return ledger.listBackups({ environment: o.environment });
}

/** The catalog entry, or BACKUP_NOT_FOUND (`environment` names the commands of its hint). */
export function getBackup(ledger: Ledger, id: string, o: { environment?: string } = {}): BackupRecord {
  const record = ledger.getBackup(id);
  if (!record) throw backupNotFound(id, o);
  return record;
}

/**
 * Removes a backup: its folder first (renamed aside, then deleted, so a half-deleted
 * folder never looks like a backup), then its catalog entry.
 */
export async function deleteBackup(o: { layout: HostLayout; ledger: Ledger; id: string }): Promise<void> {
  const dir = backupDir(o.layout, o.id);
  const doomed = path.join(o.layout.backupsDir, `.${o.id}.deleting-${randomBytes(3).toString('hex')}`);
  try {
    await fs.rename(dir, doomed);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await fs.rm(doomed, { recursive: true, force: true });
  o.ledger.removeBackup(o.id);
}

/**
 * The backup that undoes deployment `deploymentId` (`rollback --with-data`): the
 * verified pre-deploy backup it took; failing that, the newest verified backup of the
 * release it replaced, taken before the deployment finished. Null when there is none.
 */
export function backupBeforeDeployment(ledger: Ledger, deploymentId: number): BackupRecord | null {
  const deployment = ledger.getDeployment(deploymentId);
  if (!deployment?.fromId) return null;
  const own = backupUndoing(ledger, deployment);
  if (own) return own;
  // Backups tagged with the replaced release are from before the switch: the deployment's end is the bound.
  return latestBackupOfRelease(ledger, { releaseId: deployment.fromId, notAfter: deployment.finishedAt ?? undefined });
}

/**
 * The backup that undoes an update: the verified backup it took, before it changed anything,
 * of the release it replaced. The one rule behind a failed update's undo, crash recovery and
 * `rollback --with-data`. Null when the update took none (nothing deployed before, no data).
 */
export function backupUndoing(ledger: Ledger, deployment: { id: number; fromId: string | null }): BackupRecord | null {
  if (!deployment.fromId) return null;
  return (
    ledger
      .listBackups({ deploymentId: deployment.id })
      .find((b) => (b.reason === 'pre-deploy' || b.reason === 'pre-restore') && b.release?.id === deployment.fromId && b.verifiedAt !== null) ?? null
  );
}

/**
 * Makes a backup taken before an update began (a fleet rollout's, of this host) that update's
 * own, as if the update had taken it: backupUndoing, `rollback --with-data` and retention then
 * find it by the deployment. Only a backup no update claimed yet; one write, so a crash leaves
 * the entry either tied or as it was, never missing.
 *
 * backup.json keeps the deploymentId it was written with (null: taken by the rollout, before
 * any update): it describes the backup as checked, and is read again only when a backup comes
 * back from off-site, as that copy's. Rewriting it would be a second write outside the
 * ledger's transaction, and would make an off-site copy made before the tie look stale.
 */
export function tieBackupToDeployment(ledger: Ledger, backup: BackupRecord, deploymentId: number): BackupRecord {
  if (ledger.tieBackupToDeployment(backup.id, deploymentId)) return ledger.getBackup(backup.id) ?? { ...backup, deploymentId };
  const current = ledger.getBackup(backup.id);
  if (!current) throw backupNotFound(backup.id);
  if (current.deploymentId === deploymentId) return current;
  throw new SlipwayError('BACKUP_ALREADY_CLAIMED', `backup ${backup.id} already belongs to update #${current.deploymentId}`, {
    hint: 'a backup undoes one update only: take a fresh one (`slipway backup <env>`)',
  });
}

/** The newest verified backup tagged with this release (optionally not newer than `notAfter`, ISO 8601). */
export function latestBackupOfRelease(ledger: Ledger, o: { releaseId: string; environment?: string; notAfter?: string }): BackupRecord | null {
  const limit = o.notAfter === undefined ? Number.POSITIVE_INFINITY : Date.parse(o.notAfter);
  return (
    ledger
      .listBackups({ environment: o.environment })
      .find((b) => b.release?.id === o.releaseId && b.verifiedAt !== null && Date.parse(b.createdAt) <= limit) ?? null
  );
}

/**
 * Backups retention must never delete: every backup of an unfinished deployment (its
 * recovery may restore it), and the pre-deploy backup of the latest successful deploy
 * (what `rollback --with-data` restores).
 */
export function protectedBackupIds(ledger: Ledger): Set<string> {
  const ids = new Set<string>();
  const unfinished = ledger.unfinishedDeployment();
  if (unfinished) for (const b of ledger.listBackups({ deploymentId: unfinished.id })) ids.add(b.id);
  const lastDeploy = ledger.listDeployments({ limit: 50 }).find((d) => d.kind === 'deploy' && d.outcome === 'succeeded');
  if (lastDeploy) {
    const undo = backupBeforeDeployment(ledger, lastDeploy.id);
    if (undo) ids.add(undo.id);
  }
  return ids;
}
