/**
 * The host ledger's schema: its migrations, applied in order at open, and the check
 * that a read-only open meets a schema this slipway knows.
 */
import type Database from 'better-sqlite3';
import { SlipwayError } from '../errors.js';
import { now } from './ledger-records.js';

/**
 * Schema migrations, applied in order at open; version n is LEDGER_MIGRATIONS[n - 1] (exported for the upgrade tests).
 * Never edit one that has shipped: append a new one (backups came as version 2, off-site copies as 3, data copies as 5).
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
  // 5: data copies into this environment (`data copy`, data_copy schedules): where the data came
  // from and how old it is, whether it was scrubbed and with what, how it ended.
  `
  CREATE TABLE data_copies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger TEXT NOT NULL,
    source_environment TEXT,
    backup_id TEXT,
    backup_created_at TEXT,
    scrubbed INTEGER NOT NULL,
    scrub_file TEXT,
    scrub_sha256 TEXT,
    deployment_id INTEGER,
    who TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT CHECK (outcome IN ('succeeded', 'failed')),
    error TEXT
  );
  CREATE INDEX data_copies_by_started ON data_copies (started_at);
  `,
];

/** The first schema version without manifests in the releases table: reaching it frees their space. */
const MANIFESTS_DROPPED_AT = 4;

export const LEDGER_SCHEMA_VERSION = LEDGER_MIGRATIONS.length;

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

export function migrate(db: Database.Database, file: string): void {
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

export function checkSchemaReadable(db: Database.Database, file: string): void {
  const version = schemaVersion(db);
  if (version > LEDGER_SCHEMA_VERSION) throw tooNew(file, version);
  if (version < LEDGER_SCHEMA_VERSION) {
    throw new SlipwayError('HOST_LEDGER_OUTDATED', `The host ledger ${file} has schema version ${version}; this slipway needs ${LEDGER_SCHEMA_VERSION}.`, {
      hint: 'It is upgraded the next time slipway writes to it (the agent does on start); run `slipway agent` or a deploy, then retry.',
    });
  }
}
