/** Why a backup was taken: recorded in the ledger and in each backup's backup.json. */
export type BackupReason = 'pre-deploy' | 'post-deploy' | 'manual' | 'scheduled' | 'pre-restore';

export const BACKUP_REASONS: readonly BackupReason[] = ['pre-deploy', 'post-deploy', 'manual', 'scheduled', 'pre-restore'];
