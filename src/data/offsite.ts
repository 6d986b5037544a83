/**
 * Off-site copies of backups in the environment's store (a local folder or an S3
 * bucket; its `offsite_store` when set, see offsite-settings), encrypted with
 * AES-256-GCM under the environment's backup key, and the way back: fetch a copy into
 * backups/<id>/ so it restores like a local backup.
 *
 * In the store, under <app>/backups/<env>/<id>/:
 *   <file>.enc   each item file and backup.json, encrypted (src/data/encryption.ts)
 *   index.json   unencrypted and uploaded last: id, release, dates, key id, and the
 *                plaintext sha256 and size of every file (never the key)
 * A copy without index.json is incomplete and never listed. Files are encrypted one at
 * a time into a temporary folder beside the backup and removed once uploaded, so the
 * extra disk needed is one file's size.
 *
 * index.json is not authenticated; what a fetch trusts comes from the encrypted files
 * (GCM authenticates each one) and backup.json inside them: the file list, each
 * file's digest, the backup's id. The index must agree with them or the copy is refused.
 *
 * The parts: offsite-settings (on or off, the key), offsite-store (where copies lie,
 * listing and removing them), offsite-index (index.json), offsite-copy (one backup
 * copied), offsite-copier (every pending backup, one pass at a time) and offsite-fetch
 * (a copy fetched back). Importers take them from here.
 */
export { OFFSITE_INDEX_FILE, type OffsiteIndex } from './offsite-index.js';
export { backupKeyFromEnv, offsiteEnabled, offsiteStoreConfig, openOffsiteStore } from './offsite-settings.js';
export { deleteOffsiteBackup, listOffsiteBackups, offsitePrefix } from './offsite-store.js';
export { copyBackupOffsite, type CopyBackupOffsiteOptions, type CopyBackupOffsiteResult } from './offsite-copy.js';
export { copyPendingOffsite, createOffsiteCopier, type CopyPendingResult, type OffsiteCopier } from './offsite-copier.js';
export { fetchOffsiteBackup, type FetchOffsiteBackupOptions } from './offsite-fetch.js';
