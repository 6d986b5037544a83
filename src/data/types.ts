/**
 * The data layer's shared vocabulary: what can be backed up (items), what a backup
 * engine does, and how the content of a database or folder is summarised
 * (fingerprints) so a restore can be compared with what was backed up.
 */

/** One database or folder of an environment, resolved against the host's shared/ folder. */
export type DataItem =
  | { kind: 'database'; name: string; engine: 'postgres' | 'mysql'; /** env variable holding the connection URL */ urlEnv: string }
  | { kind: 'database'; name: string; engine: 'sqlite'; /** absolute path of the database file */ file: string }
  | { kind: 'folder'; name: string; engine: 'files'; /** absolute path of the folder */ dir: string };

export type EngineName = DataItem['engine'];

/** Where the values named by `urlEnv` (and PATH, for the tools) are read from: the app's environment. */
export type DataEnv = Readonly<Record<string, string | undefined>>;

/**
 * Per table (or per file) content summary. Databases: `rows` = row count, `checksum` =
 * order-independent digest of the rows as the engine's dump tool writes them. Folders:
 * one entry per path, `rows` = size in bytes, `checksum` = type, mode and content digest.
 */
export type Fingerprint = Record<string, { rows: number; checksum: string }>;

export type BackupPhase = 'backup' | 'check' | 'restore' | 'verify';

/** Reported while bytes flow; `totalBytes` is null when the size is not known in advance. */
export interface DataProgress {
  item: string;
  phase: BackupPhase;
  bytes: number;
  totalBytes: number | null;
}

export type ProgressListener = (progress: DataProgress) => void;

export interface BackupEngine<I extends DataItem = DataItem> {
  readonly engine: EngineName;
  /** the backup file's name ends with this (e.g. `.pgdump`) */
  readonly fileSuffix: string;
  /**
   * Streams the item into `outFile` (which must not exist). On any failure the file
   * does not exist afterwards; a full disk raises BACKUP_DISK_FULL.
   */
  backup(o: { item: I; outFile: string; env: DataEnv; onProgress?: ProgressListener }): Promise<{ bytes: number; sha256: string; tool: string }>;
  /**
   * Reads the whole backup file: a structural check (the archive parses, the dump is
   * complete, the database passes integrity_check) that returns the fingerprint of the
   * data the file holds. Throws BACKUP_CORRUPT when the file is damaged.
   */
  inspect(o: { item: I; file: string; env: DataEnv; onProgress?: ProgressListener }): Promise<Fingerprint>;
  /** Replaces the item's live data with the backup's content. */
  restore(o: { item: I; file: string; env: DataEnv; onProgress?: ProgressListener }): Promise<void>;
  /** Restores into a scratch database or folder, fingerprints it, and removes the scratch copy. */
  scratchFingerprint(o: { item: I; file: string; env: DataEnv; onProgress?: ProgressListener }): Promise<Fingerprint>;
  /** Fingerprint of the live data (a consistent snapshot). */
  fingerprint(o: { item: I; env: DataEnv }): Promise<Fingerprint>;
}

export { BACKUP_REASONS, type BackupReason } from '../host/backup-reasons.js';
