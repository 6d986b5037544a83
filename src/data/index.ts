/**
 * The data layer's public surface, for the pipeline steps and the CLI commands:
 * take, verify, restore and prune backups; the catalog; encryption for off-site
 * copies; the scrub of a production → staging copy.
 */
export { createBackup, type CreateBackupOptions } from './backup-set.js';
export { hasData, nothingToBackUp } from '../release/declared-data.js';
export { restoreBackup, loadIntactBackup, type RestoreBackupOptions, type RestoreResult } from './restore.js';
export { verifyBackup, type VerifyBackupOptions, type VerifyReport } from './verify.js';
export {
  backupBeforeDeployment,
  backupUndoing,
  deleteBackup,
  getBackup,
  latestBackupOfRelease,
  listBackups,
  protectedBackupIds,
  type BackupItemRecord,
  type BackupRecord,
} from './catalog.js';
export { pruneBackups, type PruneBackupsResult } from './prune-backups.js';
export { selectBackupsToPrune, type KeepReason, type RetentionDecision, type RetentionPolicy } from './retention.js';
export { backupDir, isBackupId, readBackupManifest, type BackupManifest } from './backup-manifest.js';
export { backupKeyId, decryptFile, encryptedKeyId, encryptFile, parseBackupKey } from './encryption.js';
export { runScrubSql } from './scrub.js';
export { dataItems } from './items.js';
export { engineFor } from './engines/index.js';
export { BACKUP_REASONS, type BackupReason, type DataEnv, type DataItem, type DataProgress, type Fingerprint, type ProgressListener } from './types.js';
