/**
 * The host ledger (SQLite): releases unpacked on this host, which one is current,
 * and every deployment with its steps. It is the record people read (`slipway
 * history`, `status`); crash recovery reads the journal.
 *
 * A release's manifest is not kept here: it lists every file, so a real app's runs
 * to megabytes and every row read would carry it. It lives in manifests/<id>.json
 * beside the release (readInstalledManifest); the ledger keeps the id and small facts.
 *
 * WAL lets readers (the CLI's status, the dashboard) read while the agent writes;
 * synchronous=FULL makes a committed deployment record survive power loss. A step's own
 * rows are the exception (see historyOnly): the journal holds the same facts durably.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SlipwayError } from '../errors.js';
import * as backups from './ledger-backups.js';
import * as dataCopies from './ledger-data-copies.js';
import type { DataCopyOutcome, DataCopyRecord, StartDataCopy } from './ledger-data-copies.js';
import * as deployments from './ledger-deployments.js';
import { checkSchemaReadable, migrate } from './ledger-migrations.js';
import type {
  BackupRecord,
  DeploymentOutcome,
  DeploymentRecord,
  HistoryEntry,
  HostState,
  OffsiteCopyRecord,
  RecordReleaseInput,
  ReleaseRecord,
  StartDeployment,
  StepOutcome,
} from './ledger-records.js';
import * as releases from './ledger-releases.js';
import * as state from './ledger-state.js';

export {
  DEPLOYMENT_KINDS,
  type BackupItemRecord,
  type BackupRecord,
  type DeploymentKind,
  type DeploymentOutcome,
  type DeploymentRecord,
  type HistoryEntry,
  type HostState,
  type OffsiteCopyRecord,
  type RecordReleaseInput,
  type ReleaseRecord,
  type StartDeployment,
  type StepOutcome,
  type StepRecord,
} from './ledger-records.js';
export { LEDGER_MIGRATIONS, LEDGER_SCHEMA_VERSION } from './ledger-migrations.js';
export type { DataCopyOutcome, DataCopyRecord, DataCopyTrigger, StartDataCopy } from './ledger-data-copies.js';
export { historyEntryOf } from './ledger-deployments.js';

export interface OpenLedgerOptions {
  /** read only: no migrations, no writes; the file must exist and be up to date */
  readonly?: boolean;
}

/** Opens (creating and migrating unless read-only) the ledger at `file`. */
export function openLedger(file: string, options: OpenLedgerOptions = {}): Ledger {
  const readonly = options.readonly ?? false;
  if (readonly && !fs.existsSync(file)) {
    throw new SlipwayError('HOST_LEDGER_MISSING', `No host ledger at ${file}.`, {
      hint: 'Nothing has been deployed to this host yet; deploy first.',
    });
  }
  if (!readonly) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Before SQLite makes the file: it gives the -wal and -shm files the database's own mode.
    keepPrivate(file);
  }

  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly, fileMustExist: readonly });
    // Wait for a writer rather than failing with SQLITE_BUSY (the agent writes in short transactions).
    db.pragma('busy_timeout = 5000');
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      keepPrivate(file); // -wal and -shm left by an earlier version may be wider
      db.pragma('synchronous = FULL');
      // After the migrations: they rebuild tables, which foreign keys would cascade into.
      migrate(db, file);
      db.pragma('foreign_keys = ON');
    } else {
      checkSchemaReadable(db, file);
    }
  } catch (error) {
    db?.close();
    if (error instanceof SlipwayError) throw error;
    throw new SlipwayError('HOST_LEDGER_UNREADABLE', `Cannot open the host ledger ${file}: ${(error as Error).message}`, {
      hint: 'Check the file\'s permissions and free disk space; if the file is damaged, move it aside (history is lost, the host still runs).',
      cause: error,
    });
  }
  return new Ledger(db, file, readonly);
}

/** the ledger and its write-ahead log: what was deployed, when, by whom, and every error */
export const LEDGER_FILE_MODE = 0o600;

/** The ledger's files, for checks of their modes (`slipway doctor`). */
export function ledgerFiles(file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`];
}

/**
 * The ledger and its -wal/-shm files are the owner's only: the history holds error messages,
 * paths and who deployed what. Creates the ledger file empty with mode 0600 when it does not
 * exist (SQLite takes an empty file as a new database), narrows any that is wider. A file
 * owned by someone else is left as it is (`slipway doctor` reports it).
 */
function keepPrivate(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_WRONLY, LEDGER_FILE_MODE));
  } catch {
    // not ours to create (a read-only folder): opening the database says why
  }
  for (const each of ledgerFiles(file)) {
    try {
      if ((fs.statSync(each).mode & 0o077) !== 0) fs.chmodSync(each, LEDGER_FILE_MODE);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EPERM') throw error;
    }
  }
}

/**
 * The ledger's one handle: it checks that it may write, and hands each query to its
 * group (ledger-releases, ledger-state, ledger-deployments, ledger-backups).
 */
export class Ledger {
  readonly file: string;
  readonly readonly: boolean;
  private readonly db: Database.Database;

  /** Use openLedger(). */
  constructor(db: Database.Database, file: string, readonly: boolean) {
    this.db = db;
    this.file = file;
    this.readonly = readonly;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- releases ----

  /** Records a release unpacked on this host; recording the same id again updates it. */
  recordRelease(release: RecordReleaseInput): void {
    this.writable();
    releases.recordRelease(this.db, release);
  }

  getRelease(id: string): ReleaseRecord | null {
    return releases.getRelease(this.db, id);
  }

  /** Newest unpacked first. */
  listReleases(): ReleaseRecord[] {
    return releases.listReleases(this.db);
  }

  /** The most recently unpacked release with this version, or null. */
  findReleaseByVersion(version: string): ReleaseRecord | null {
    return releases.findReleaseByVersion(this.db, version);
  }

  /** Forgets a release (after pruning it from disk); true when there was one. Deployment history keeps its versions. */
  removeRelease(id: string): boolean {
    this.writable();
    return releases.removeRelease(this.db, id);
  }

  // ---- host state ----

  getState(): HostState {
    return state.getState(this.db);
  }

  /** Sets current and previous together: a reader never sees one without the other. */
  setCurrent(current: HostState): void {
    this.writable();
    state.setCurrent(this.db, current);
  }

  /** A free-form host state value (e.g. the active blue/green slot), null when unset. */
  getStateValue(key: string): string | null {
    return state.getStateValue(this.db, key);
  }

  setStateValue(key: string, value: string | null): void {
    this.writable();
    state.setStateValue(this.db, key, value);
  }

  // ---- deployments and steps ----

  /** Records the start of a deployment (startedAt = now); returns its id. */
  startDeployment(deployment: StartDeployment): number {
    this.writable();
    return deployments.startDeployment(this.db, deployment);
  }

  finishDeployment(id: number, result: { outcome: DeploymentOutcome; error?: string }): void {
    this.writable();
    deployments.finishDeployment(this.db, id, result);
  }

  /** The latest deployment that never finished (in progress, or interrupted by a crash), or null. */
  unfinishedDeployment(): DeploymentRecord | null {
    return deployments.unfinishedDeployment(this.db);
  }

  getDeployment(id: number): DeploymentRecord | null {
    return deployments.getDeployment(this.db, id);
  }

  /** Newest first, each with its steps in the order they started. */
  listDeployments(options: { limit?: number } = {}): DeploymentRecord[] {
    return deployments.listDeployments(this.db, options);
  }

  /** Records that a step began; a name may repeat within a deployment (a retry, an undo): each start is its own row. */
  startStep(deploymentId: number, name: string): void {
    this.writable();
    this.historyOnly(() => deployments.startStep(this.db, deploymentId, name));
  }

  /**
   * Finishes the latest unfinished row of that step. A step finished without having
   * been started (typically 'skipped') gets a row of its own with ms 0.
   */
  finishStep(deploymentId: number, name: string, result: { outcome: StepOutcome; detail?: string }): void {
    this.writable();
    this.historyOnly(() => deployments.finishStep(this.db, deploymentId, name, result));
  }

  /**
   * A write that is history for people only, committed without a sync of its own: a step's
   * rows. Each costs an fsync otherwise, run on the agent's one thread (which also proxies
   * the app's requests); a warm rollback wrote thirteen before its switch.
   *
   * Nothing decides from them: crash recovery reads the journal, whose lines are fsynced
   * before a step acts. In WAL mode such a commit is atomic and in the log at once (other
   * readers see it, a crashed process loses nothing); only a power loss can drop it, and only
   * until the next synced commit (the deployment's outcome, the switch's current release,
   * any backup record), which syncs the log up to itself. A lost row reads as a step of an
   * interrupted update that never finished, and recovery writes its own rows.
   */
  private historyOnly(write: () => void): void {
    this.db.pragma('synchronous = NORMAL');
    try {
      write();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** `slipway history --json`: exactly the contract's fields, newest first. */
  history(limit = 50): HistoryEntry[] {
    return deployments.history(this.db, limit);
  }

  // ---- backups (the catalog; src/data/catalog.ts builds on these) ----

  /** Records a backup that exists on disk and passed its checks. */
  recordBackup(backup: BackupRecord): void {
    this.writable();
    backups.recordBackup(this.db, backup);
  }

  getBackup(id: string): BackupRecord | null {
    return backups.getBackup(this.db, id);
  }

  /** Newest first (ids sort by creation time). */
  listBackups(options: { environment?: string; deploymentId?: number; limit?: number } = {}): BackupRecord[] {
    return backups.listBackups(this.db, options);
  }

  /** Sets verified_at (after a passing `backup verify`); false when there is no such backup. */
  /** Records when a check last passed (now when `at` is not given); null clears it (a later check failed). */
  markBackupVerified(id: string, at?: string | null): boolean {
    this.writable();
    return backups.markBackupVerified(this.db, id, at);
  }

  /** Records (or, with null, forgets) the backup's off-site copy; false when there is no such backup. */
  markBackupOffsite(id: string, copy: OffsiteCopyRecord | null): boolean {
    this.writable();
    return backups.markBackupOffsite(this.db, id, copy);
  }

  /** Makes an unclaimed backup (deployment_id null) update `deploymentId`'s own, in one write; false when there is no such unclaimed backup. */
  tieBackupToDeployment(id: string, deploymentId: number): boolean {
    this.writable();
    return backups.tieBackupToDeployment(this.db, id, deploymentId);
  }

  /** Forgets a backup (after its folder was removed); true when there was one. */
  removeBackup(id: string): boolean {
    this.writable();
    return backups.removeBackup(this.db, id);
  }

  // ---- data copies into this environment (ledger-data-copies) ----

  /** Records the start of a data copy; returns its id. */
  startDataCopy(copy: StartDataCopy): number {
    this.writable();
    return dataCopies.startDataCopy(this.db, copy);
  }

  finishDataCopy(id: number, result: { outcome: DataCopyOutcome; deploymentId?: number | null; error?: string }): void {
    this.writable();
    dataCopies.finishDataCopy(this.db, id, result);
  }

  /** Newest first; `outcome` keeps only those that ended so. */
  listDataCopies(options: { limit?: number; outcome?: DataCopyOutcome } = {}): DataCopyRecord[] {
    return dataCopies.listDataCopies(this.db, options);
  }

  private writable(): void {
    if (this.readonly) {
      throw new SlipwayError('HOST_LEDGER_READONLY', `The host ledger ${this.file} was opened read-only.`, {
        hint: 'This is a bug in slipway; please report it.',
      });
    }
  }
}
