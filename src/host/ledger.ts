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
 * synchronous=FULL makes a committed deployment record survive power loss.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SlipwayError } from '../errors.js';
import type { BackupReason } from './backup-reasons.js';

/** A release unpacked on this host: its id (the manifest's digest) and small facts; the manifest is in manifests/<id>.json. */
export interface ReleaseRecord {
  id: string;
  version: string;
  commit: string;
  /** ISO 8601 */
  unpackedAt: string;
}

/** What recordRelease takes. */
export type RecordReleaseInput = Omit<ReleaseRecord, 'unpackedAt'> & {
  unpackedAt?: string;
  /**
   * Ignored: the manifest is read from manifests/<id>.json. Still accepted so that
   * callers written before the ledger stopped keeping manifests keep compiling.
   * @deprecated stop passing it
   */
  manifestJson?: string;
};

export interface HostState {
  currentId: string | null;
  previousId: string | null;
}

/**
 * What a deployment was, as `slipway history` shows it: `rollback` is code only,
 * `rollback-with-data` also brought back the backup its update took, `restore` brought
 * a chosen backup back (with the release it belongs to). `recovery` is accepted for
 * records that older slipway versions may have written.
 */
export type DeploymentKind = 'deploy' | 'rollback' | 'rollback-with-data' | 'restore' | 'recovery';
export const DEPLOYMENT_KINDS: readonly DeploymentKind[] = ['deploy', 'rollback', 'rollback-with-data', 'restore', 'recovery'];
export type DeploymentOutcome = 'succeeded' | 'failed' | 'rolled-back';
export type StepOutcome = 'done' | 'skipped' | 'failed' | 'undone';

export interface StartDeployment {
  kind: DeploymentKind;
  fromId: string | null;
  toId: string | null;
  fromVersion: string | null;
  toVersion: string | null;
  reason: string;
  /** who asked: a user, 'agent (channel poll)', 'ci'… */
  who: string;
}

export interface StepRecord {
  name: string;
  startedAt: string;
  /** null while running, or when the process died during the step */
  finishedAt: string | null;
  outcome: StepOutcome | null;
  ms: number | null;
  detail: string | null;
}

export interface DeploymentRecord extends StartDeployment {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  /** null while running, or when it was interrupted and recovery has not finished it yet */
  outcome: DeploymentOutcome | null;
  error: string | null;
  /** in the order they started */
  steps: StepRecord[];
}

/** One entry of `slipway history --json` (CONTRACT.md): from/to are versions. */
export interface HistoryEntry {
  id: number;
  kind: DeploymentKind;
  from: string | null;
  to: string | null;
  outcome: DeploymentOutcome | null;
  startedAt: string;
  finishedAt: string | null;
  steps: Array<{ name: string; outcome: StepOutcome | null; ms: number | null }>;
}

/** One file of a backup (catalog view; fingerprints stay in the backup's backup.json). */
export interface BackupItemRecord {
  name: string;
  kind: 'database' | 'folder';
  engine: string;
  /** file name inside backups/<id>/ */
  file: string;
  size: number;
  sha256: string;
}

/** A backup in the catalog: the fields of `slipway backups --json` (CONTRACT.md) and more. */
export interface BackupRecord {
  id: string;
  environment: string;
  /** the release that was serving when the backup was taken (null: none yet) */
  release: { id: string; version: string | null } | null;
  reason: BackupReason;
  /** ISO 8601 */
  createdAt: string;
  /** bytes of all item files */
  size: number;
  /** sha256 over the items' digests: sha256 of the lines "<item sha256>  <file>\n", in item order */
  sha256: string;
  /** when a check last passed (checksums and a structural read at creation; a scratch restore for `backup verify`) */
  verifiedAt: string | null;
  durationMs: number;
  /** the deployment it was taken for (pre-deploy/post-deploy), else null */
  deploymentId: number | null;
  items: BackupItemRecord[];
  /** its encrypted copy in the environment's store; absent when it has none */
  offsite?: OffsiteCopyRecord;
}

/** Where a backup's off-site copy is: store keys and key id only, never the encryption key. */
export interface OffsiteCopyRecord {
  /** the store key prefix of the copy: <app>/backups/<env>/<id>/ */
  key: string;
  /** id of the encryption key (first 16 hex digits of its sha256) */
  keyId: string;
  /** ISO 8601: when the copy was complete */
  at: string;
}

export interface OpenLedgerOptions {
  /** read only: no migrations, no writes; the file must exist and be up to date */
  readonly?: boolean;
}

/**
 * Schema migrations, applied in order at open; version n is LEDGER_MIGRATIONS[n - 1] (exported for the upgrade tests).
 * Never edit one that has shipped: append a new one (backups came as version 2, off-site copies as 3).
 * They run with foreign keys off (SQLite's way to rebuild a table that others reference)
 * and must leave no broken reference: migrate() checks before it commits.
 */
export const LEDGER_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    unpacked_at TEXT NOT NULL
  );
  CREATE INDEX releases_by_version ON releases (version, unpacked_at);

  CREATE TABLE host_state (
    key TEXT PRIMARY KEY,
    value TEXT
  );

  -- No foreign keys to releases: history outlives pruned releases, hence the copied versions.
  CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback', 'recovery')),
    from_id TEXT,
    to_id TEXT,
    from_version TEXT,
    to_version TEXT,
    reason TEXT NOT NULL,
    who TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'rolled-back')),
    error TEXT
  );

  CREATE TABLE deployment_steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id INTEGER NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    finished_at TEXT,
    outcome TEXT CHECK (outcome IN ('done', 'skipped', 'failed', 'undone')),
    ms INTEGER,
    detail TEXT
  );
  CREATE INDEX deployment_steps_by_deployment ON deployment_steps (deployment_id, id);
  `,
  // 2: the backup catalog. Reasons are checked in code, so adding one needs no migration.
  `
  CREATE TABLE backups (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    release_id TEXT,
    release_version TEXT,
    reason TEXT NOT NULL,
    deployment_id INTEGER,
    created_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    verified_at TEXT,
    items_json TEXT NOT NULL
  );
  CREATE INDEX backups_by_created ON backups (created_at);
  CREATE INDEX backups_by_deployment ON backups (deployment_id);
  `,
  // 3: off-site copies: where in the store, under which key id (never the key), since when.
  `
  ALTER TABLE backups ADD COLUMN offsite_key TEXT;
  ALTER TABLE backups ADD COLUMN offsite_key_id TEXT;
  ALTER TABLE backups ADD COLUMN offsite_at TEXT;
  `,
  // 4: manifests leave the ledger (a 50,000-file app made it 25 MB; the host keeps them in
  // manifests/<id>.json), and history tells a rollback with data and a restore from a plain
  // rollback. A CHECK cannot be altered in SQLite: deployments is rebuilt, ids and steps kept.
  `
  ALTER TABLE releases DROP COLUMN manifest_json;

  CREATE TABLE deployments_v4 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback', 'rollback-with-data', 'restore', 'recovery')),
    from_id TEXT,
    to_id TEXT,
    from_version TEXT,
    to_version TEXT,
    reason TEXT NOT NULL,
    who TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'rolled-back')),
    error TEXT
  );
  INSERT INTO deployments_v4 (id, kind, from_id, to_id, from_version, to_version, reason, who, started_at, finished_at, outcome, error)
    SELECT id, kind, from_id, to_id, from_version, to_version, reason, who, started_at, finished_at, outcome, error FROM deployments;
  DROP TABLE deployments;
  ALTER TABLE deployments_v4 RENAME TO deployments;
  `,
];

/** The first schema version without manifests in the releases table: reaching it frees their space. */
const MANIFESTS_DROPPED_AT = 4;

export const LEDGER_SCHEMA_VERSION = LEDGER_MIGRATIONS.length;

const STATE_CURRENT = 'current_id';
const STATE_PREVIOUS = 'previous_id';

interface DeploymentRow {
  id: number;
  kind: DeploymentKind;
  from_id: string | null;
  to_id: string | null;
  from_version: string | null;
  to_version: string | null;
  reason: string;
  who: string;
  started_at: string;
  finished_at: string | null;
  outcome: DeploymentOutcome | null;
  error: string | null;
}

interface StepRow {
  deployment_id: number;
  name: string;
  started_at: string;
  finished_at: string | null;
  outcome: StepOutcome | null;
  ms: number | null;
  detail: string | null;
}

interface BackupRow {
  id: string;
  environment: string;
  release_id: string | null;
  release_version: string | null;
  reason: BackupReason;
  deployment_id: number | null;
  created_at: string;
  size: number;
  sha256: string;
  duration_ms: number;
  verified_at: string | null;
  items_json: string;
  offsite_key: string | null;
  offsite_key_id: string | null;
  offsite_at: string | null;
}

interface ReleaseRow {
  id: string;
  version: string;
  commit_id: string;
  unpacked_at: string;
}

/** Opens (creating and migrating unless read-only) the ledger at `file`. */
export function openLedger(file: string, options: OpenLedgerOptions = {}): Ledger {
  const readonly = options.readonly ?? false;
  if (readonly && !fs.existsSync(file)) {
    throw new SlipwayError('HOST_LEDGER_MISSING', `No host ledger at ${file}.`, {
      hint: 'Nothing has been deployed to this host yet; deploy first.',
    });
  }
  if (!readonly) fs.mkdirSync(path.dirname(file), { recursive: true });

  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly, fileMustExist: readonly });
    // Wait for a writer rather than failing with SQLITE_BUSY (the agent writes in short transactions).
    db.pragma('busy_timeout = 5000');
    if (!readonly) {
      db.pragma('journal_mode = WAL');
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

function schemaVersion(db: Database.Database): number {
  const table = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'`).get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

function tooNew(file: string, version: number): SlipwayError {
  return new SlipwayError('HOST_LEDGER_TOO_NEW', `The host ledger ${file} has schema version ${version}; this slipway knows up to ${LEDGER_SCHEMA_VERSION}.`, {
    hint: 'A newer slipway wrote it: upgrade slipway on this machine.',
  });
}

function migrate(db: Database.Database, file: string): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  // Off outside the transaction (SQLite ignores the pragma inside one): dropping a rebuilt
  // table must not cascade into the rows that reference it.
  db.pragma('foreign_keys = OFF');
  // IMMEDIATE: two processes opening a fresh ledger at once must not both apply a migration.
  const apply = db.transaction((): number => {
    const from = schemaVersion(db);
    if (from > LEDGER_SCHEMA_VERSION) throw tooNew(file, from);
    for (let version = from + 1; version <= LEDGER_SCHEMA_VERSION; version++) {
      db.exec(LEDGER_MIGRATIONS[version - 1]);
      db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(version, now());
    }
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0) {
      throw new SlipwayError('HOST_LEDGER_MIGRATION_FAILED', `Upgrading the host ledger ${file} would break ${broken.length} reference(s); nothing was changed.`, {
        hint: 'This is a bug in slipway; please report it (the ledger is left as it was).',
      });
    }
    return from;
  });
  const from = apply.immediate();
  if (from > 0 && from < MANIFESTS_DROPPED_AT) reclaimSpace(db);
}

/**
 * Once, after the manifests left an existing ledger: give their pages back to the disk
 * (a ledger of a big app shrinks from megabytes to kilobytes). Best effort: a reader
 * holding the file open only delays this to never, and the ledger works either way.
 */
function reclaimSpace(db: Database.Database): void {
  try {
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    // The space stays in SQLite's free list and is reused by later writes.
  }
}

function checkSchemaReadable(db: Database.Database, file: string): void {
  const version = schemaVersion(db);
  if (version > LEDGER_SCHEMA_VERSION) throw tooNew(file, version);
  if (version < LEDGER_SCHEMA_VERSION) {
    throw new SlipwayError('HOST_LEDGER_OUTDATED', `The host ledger ${file} has schema version ${version}; this slipway needs ${LEDGER_SCHEMA_VERSION}.`, {
      hint: 'It is upgraded the next time slipway writes to it (the agent does on start); run `slipway agent` or a deploy, then retry.',
    });
  }
}

function now(): string {
  return new Date().toISOString();
}

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
    this.db
      .prepare(
        `INSERT INTO releases (id, version, commit_id, unpacked_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, commit_id = excluded.commit_id,
           unpacked_at = excluded.unpacked_at`,
      )
      .run(release.id, release.version, release.commit, release.unpackedAt ?? now());
  }

  getRelease(id: string): ReleaseRecord | null {
    const row = this.db.prepare('SELECT * FROM releases WHERE id = ?').get(id) as ReleaseRow | undefined;
    return row === undefined ? null : toRelease(row);
  }

  /** Newest unpacked first. */
  listReleases(): ReleaseRecord[] {
    const rows = this.db.prepare('SELECT * FROM releases ORDER BY unpacked_at DESC, rowid DESC').all() as ReleaseRow[];
    return rows.map(toRelease);
  }

  /** The most recently unpacked release with this version, or null. */
  findReleaseByVersion(version: string): ReleaseRecord | null {
    const row = this.db
      .prepare('SELECT * FROM releases WHERE version = ? ORDER BY unpacked_at DESC, rowid DESC LIMIT 1')
      .get(version) as ReleaseRow | undefined;
    return row === undefined ? null : toRelease(row);
  }

  /** Forgets a release (after pruning it from disk); true when there was one. Deployment history keeps its versions. */
  removeRelease(id: string): boolean {
    this.writable();
    return this.db.prepare('DELETE FROM releases WHERE id = ?').run(id).changes > 0;
  }

  // ---- host state ----

  getState(): HostState {
    return { currentId: this.getStateValue(STATE_CURRENT), previousId: this.getStateValue(STATE_PREVIOUS) };
  }

  /** Sets current and previous together: a reader never sees one without the other. */
  setCurrent(state: HostState): void {
    this.writable();
    this.db.transaction(() => {
      this.setStateValue(STATE_CURRENT, state.currentId);
      this.setStateValue(STATE_PREVIOUS, state.previousId);
    }).immediate();
  }

  /** A free-form host state value (e.g. the active blue/green slot), null when unset. */
  getStateValue(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM host_state WHERE key = ?').get(key) as { value: string | null } | undefined;
    return row?.value ?? null;
  }

  setStateValue(key: string, value: string | null): void {
    this.writable();
    this.db
      .prepare('INSERT INTO host_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  // ---- deployments and steps ----

  /** Records the start of a deployment (startedAt = now); returns its id. */
  startDeployment(deployment: StartDeployment): number {
    this.writable();
    const result = this.db
      .prepare(
        `INSERT INTO deployments (kind, from_id, to_id, from_version, to_version, reason, who, started_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        deployment.kind,
        deployment.fromId,
        deployment.toId,
        deployment.fromVersion,
        deployment.toVersion,
        deployment.reason,
        deployment.who,
        now(),
      );
    return Number(result.lastInsertRowid);
  }

  finishDeployment(id: number, result: { outcome: DeploymentOutcome; error?: string }): void {
    this.writable();
    const row = this.db.prepare('SELECT finished_at FROM deployments WHERE id = ?').get(id) as { finished_at: string | null } | undefined;
    if (row === undefined) throw noDeployment(id);
    if (row.finished_at !== null) {
      throw new SlipwayError('HOST_LEDGER_DEPLOYMENT_FINISHED', `Deployment ${id} was already finished at ${row.finished_at}.`, {
        hint: 'This is a bug in slipway; please report it.',
      });
    }
    this.db
      .prepare('UPDATE deployments SET finished_at = ?, outcome = ?, error = ? WHERE id = ?')
      .run(now(), result.outcome, result.error ?? null, id);
  }

  /** The latest deployment that never finished (in progress, or interrupted by a crash), or null. */
  unfinishedDeployment(): DeploymentRecord | null {
    const row = this.db
      .prepare('SELECT * FROM deployments WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1')
      .get() as DeploymentRow | undefined;
    return row === undefined ? null : this.withSteps([row])[0];
  }

  getDeployment(id: number): DeploymentRecord | null {
    const row = this.db.prepare('SELECT * FROM deployments WHERE id = ?').get(id) as DeploymentRow | undefined;
    return row === undefined ? null : this.withSteps([row])[0];
  }

  /** Newest first, each with its steps in the order they started. */
  listDeployments(options: { limit?: number } = {}): DeploymentRecord[] {
    const limit = options.limit ?? 50;
    const rows = this.db.prepare('SELECT * FROM deployments ORDER BY id DESC LIMIT ?').all(limit) as DeploymentRow[];
    return this.withSteps(rows);
  }

  /** Records that a step began; a name may repeat within a deployment (a retry, an undo): each start is its own row. */
  startStep(deploymentId: number, name: string): void {
    this.writable();
    const exists = this.db.prepare('SELECT 1 FROM deployments WHERE id = ?').get(deploymentId);
    if (exists === undefined) throw noDeployment(deploymentId);
    this.db
      .prepare('INSERT INTO deployment_steps (deployment_id, name, started_at, started_ms) VALUES (?, ?, ?, ?)')
      .run(deploymentId, name, now(), Date.now());
  }

  /**
   * Finishes the latest unfinished row of that step. A step finished without having
   * been started (typically 'skipped') gets a row of its own with ms 0.
   */
  finishStep(deploymentId: number, name: string, result: { outcome: StepOutcome; detail?: string }): void {
    this.writable();
    this.db.transaction(() => {
      const open = this.db
        .prepare(
          `SELECT id, started_ms FROM deployment_steps
           WHERE deployment_id = ? AND name = ? AND finished_at IS NULL ORDER BY id DESC LIMIT 1`,
        )
        .get(deploymentId, name) as { id: number; started_ms: number } | undefined;
      const finishedAt = now();
      if (open === undefined) {
        const exists = this.db.prepare('SELECT 1 FROM deployments WHERE id = ?').get(deploymentId);
        if (exists === undefined) throw noDeployment(deploymentId);
        this.db
          .prepare(
            `INSERT INTO deployment_steps (deployment_id, name, started_at, started_ms, finished_at, outcome, ms, detail)
             VALUES (?, ?, ?, ?, ?, ?, 0, ?)`,
          )
          .run(deploymentId, name, finishedAt, Date.now(), finishedAt, result.outcome, result.detail ?? null);
        return;
      }
      // The wall clock may step backwards (NTP); a duration is never negative.
      const ms = Math.max(0, Date.now() - open.started_ms);
      this.db
        .prepare('UPDATE deployment_steps SET finished_at = ?, outcome = ?, ms = ?, detail = ? WHERE id = ?')
        .run(finishedAt, result.outcome, ms, result.detail ?? null, open.id);
    }).immediate();
  }

  /** `slipway history --json`: exactly the contract's fields, newest first. */
  history(limit = 50): HistoryEntry[] {
    return this.listDeployments({ limit }).map((d) => ({
      id: d.id,
      kind: d.kind,
      from: d.fromVersion,
      to: d.toVersion,
      outcome: d.outcome,
      startedAt: d.startedAt,
      finishedAt: d.finishedAt,
      steps: d.steps.map((s) => ({ name: s.name, outcome: s.outcome, ms: s.ms })),
    }));
  }

  // ---- backups (the catalog; src/data/catalog.ts builds on these) ----

  /** Records a backup that exists on disk and passed its checks. */
  recordBackup(backup: BackupRecord): void {
    this.writable();
    this.db
      .prepare(
        `INSERT INTO backups (id, environment, release_id, release_version, reason, deployment_id, created_at, size, sha256, duration_ms, verified_at, items_json,
           offsite_key, offsite_key_id, offsite_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        backup.id,
        backup.environment,
        backup.release?.id ?? null,
        backup.release?.version ?? null,
        backup.reason,
        backup.deploymentId,
        backup.createdAt,
        backup.size,
        backup.sha256,
        backup.durationMs,
        backup.verifiedAt,
        JSON.stringify(backup.items),
        backup.offsite?.key ?? null,
        backup.offsite?.keyId ?? null,
        backup.offsite?.at ?? null,
      );
  }

  getBackup(id: string): BackupRecord | null {
    const row = this.db.prepare('SELECT * FROM backups WHERE id = ?').get(id) as BackupRow | undefined;
    return row === undefined ? null : toBackup(row);
  }

  /** Newest first (ids sort by creation time). */
  listBackups(options: { environment?: string; deploymentId?: number; limit?: number } = {}): BackupRecord[] {
    const where: string[] = [];
    const params: Array<string | number> = [];
    if (options.environment !== undefined) {
      where.push('environment = ?');
      params.push(options.environment);
    }
    if (options.deploymentId !== undefined) {
      where.push('deployment_id = ?');
      params.push(options.deploymentId);
    }
    const sql = `SELECT * FROM backups ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...params, options.limit ?? -1) as BackupRow[];
    return rows.map(toBackup);
  }

  /** Sets verified_at (after a passing `backup verify`); false when there is no such backup. */
  /** Records when a check last passed; null clears it (a later check failed). */
  markBackupVerified(id: string, at: string | null = now()): boolean {
    this.writable();
    return this.db.prepare('UPDATE backups SET verified_at = ? WHERE id = ?').run(at, id).changes > 0;
  }

  /** Records (or, with null, forgets) the backup's off-site copy; false when there is no such backup. */
  markBackupOffsite(id: string, copy: OffsiteCopyRecord | null): boolean {
    this.writable();
    return (
      this.db
        .prepare('UPDATE backups SET offsite_key = ?, offsite_key_id = ?, offsite_at = ? WHERE id = ?')
        .run(copy?.key ?? null, copy?.keyId ?? null, copy?.at ?? null, id).changes > 0
    );
  }

  /** Forgets a backup (after its folder was removed); true when there was one. */
  removeBackup(id: string): boolean {
    this.writable();
    return this.db.prepare('DELETE FROM backups WHERE id = ?').run(id).changes > 0;
  }

  private withSteps(rows: DeploymentRow[]): DeploymentRecord[] {
    if (rows.length === 0) return [];
    const placeholders = rows.map(() => '?').join(', ');
    const steps = this.db
      .prepare(`SELECT * FROM deployment_steps WHERE deployment_id IN (${placeholders}) ORDER BY id`)
      .all(...rows.map((r) => r.id)) as StepRow[];
    const byDeployment = new Map<number, StepRecord[]>();
    for (const s of steps) {
      const list = byDeployment.get(s.deployment_id) ?? [];
      list.push({ name: s.name, startedAt: s.started_at, finishedAt: s.finished_at, outcome: s.outcome, ms: s.ms, detail: s.detail });
      byDeployment.set(s.deployment_id, list);
    }
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      fromId: r.from_id,
      toId: r.to_id,
      fromVersion: r.from_version,
      toVersion: r.to_version,
      reason: r.reason,
      who: r.who,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      outcome: r.outcome,
      error: r.error,
      steps: byDeployment.get(r.id) ?? [],
    }));
  }

  private writable(): void {
    if (this.readonly) {
      throw new SlipwayError('HOST_LEDGER_READONLY', `The host ledger ${this.file} was opened read-only.`, {
        hint: 'This is a bug in slipway; please report it.',
      });
    }
  }
}

function toRelease(row: ReleaseRow): ReleaseRecord {
  return { id: row.id, version: row.version, commit: row.commit_id, unpackedAt: row.unpacked_at };
}

function toBackup(row: BackupRow): BackupRecord {
  return {
    id: row.id,
    environment: row.environment,
    release: row.release_id === null ? null : { id: row.release_id, version: row.release_version },
    reason: row.reason,
    createdAt: row.created_at,
    size: row.size,
    sha256: row.sha256,
    verifiedAt: row.verified_at,
    durationMs: row.duration_ms,
    deploymentId: row.deployment_id,
    items: JSON.parse(row.items_json) as BackupItemRecord[],
    // Only when there is one, so records of backups without a copy keep their shape.
    ...(row.offsite_at !== null && row.offsite_key !== null && row.offsite_key_id !== null
      ? { offsite: { key: row.offsite_key, keyId: row.offsite_key_id, at: row.offsite_at } }
      : {}),
  };
}

function noDeployment(id: number): SlipwayError {
  return new SlipwayError('HOST_LEDGER_NO_DEPLOYMENT', `The host ledger has no deployment ${id}.`, {
    hint: 'This is a bug in slipway; please report it.',
  });
}
