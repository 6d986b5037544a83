import { SlipwayError } from '../errors.js';
import { backupBeforeDeployment, getBackup } from '../data/index.js';
import type { Ledger } from '../host/ledger.js';
import { nothingDeployed } from '../host/current-link.js';

/** What an update that brings data back needs to know: which release, which backup. */
export interface DataRestoreTarget {
  releaseId: string;
  restoreBackupId: string;
  /** what `slipway history` calls the update */
  recordAs: 'rollback-with-data' | 'restore';
}

/**
 * `rollback --with-data`: undo the update that brought the current release, code
 * and data: back to the release it came from, with the backup it took before it changed anything.
 */
export function rollbackWithDataTarget(ledger: Ledger, to?: string): DataRestoreTarget {
  const { currentId } = ledger.getState();
  const deployment = ledger
    .listDeployments({ limit: 500 })
    .find((d) => d.kind === 'deploy' && d.outcome === 'succeeded' && d.toId === currentId && d.fromId);
  if (!deployment || !deployment.fromId) {
    throw new SlipwayError('NOTHING_TO_UNDO', 'no deployment brought the current release from an earlier one, so there is no update to undo with its data', {
      exitCode: 2,
      hint: 'restore a backup by id instead: `slipway backups <env>` then `slipway restore <env> <backup-id>`',
    });
  }
  if (to && to !== deployment.fromVersion && to !== deployment.fromId && !deployment.fromId.startsWith(to)) {
    throw new SlipwayError('ROLLBACK_WITH_DATA_TARGET', `--with-data undoes the update ${deployment.fromVersion} → ${deployment.toVersion}: it goes back to ${deployment.fromVersion}, not ${to}`, {
      exitCode: 2,
      hint: `drop --to, or restore a backup of ${to} with \`slipway restore <env> <backup-id>\``,
    });
  }
  const backup = backupBeforeDeployment(ledger, deployment.id);
  if (!backup) {
    throw new SlipwayError('NO_BACKUP_FOR_UPDATE', `the update ${deployment.fromVersion} → ${deployment.toVersion} took no backup (no data configured then)`, {
      exitCode: 2,
      hint: 'roll back the code only (without --with-data)',
    });
  }
  return { releaseId: deployment.fromId, restoreBackupId: backup.id, recordAs: 'rollback-with-data' };
}

/** `slipway restore <backup-id>`: the backup's data and the release it belongs to. */
export function restoreTarget(ledger: Ledger, backupId: string, dataOnly: boolean): DataRestoreTarget {
  // An unknown id is a usage error, exit 2.
  const backup = getBackup(ledger, backupId);
  const releaseId = backup.release?.id ?? ledger.getState().currentId;
  if (!releaseId) throw nothingDeployed({ why: 'the backup belongs to no release' });
  if (dataOnly && releaseId !== ledger.getState().currentId) {
    throw new SlipwayError('RESTORE_DATA_ONLY_MISMATCH', `backup ${backupId} belongs to ${backup.release?.version ?? releaseId}, not to the current release`, {
      exitCode: 2,
      hint: 'drop --data-only: restoring it brings its release back too (data and code belong together)',
    });
  }
  return { releaseId, restoreBackupId: backup.id, recordAs: 'restore' };
}
