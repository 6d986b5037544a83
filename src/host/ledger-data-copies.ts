/**
 * The ledger's record of data copies into this environment (`slipway data copy`, the
 * agent's data_copy schedule): where the data came from, the backup it was and when
 * that backup was taken (the data's age is measured from it, not from the copy),
 * whether it was scrubbed and with which file, how it ended. Ledger checks that it may
 * write before it calls the writers.
 */
import type Database from 'better-sqlite3';
import { now } from './ledger-records.js';

/** Who started a copy: a person (`slipway data copy`) or the agent's schedule. */
export type DataCopyTrigger = 'manual' | 'schedule';
export type DataCopyOutcome = 'succeeded' | 'failed';

export interface StartDataCopy {
  trigger: DataCopyTrigger;
  /** the environment the backup was taken of (null when its backup.json could not be read) */
  sourceEnvironment: string | null;
  /** null when the copy failed before it had a backup (none verified, the store unreachable) */
  backupId: string | null;
  /** ISO 8601: when the source's backup was taken */
  backupCreatedAt: string | null;
  /** the scrub file's name (never its folder) and the sha256 of its bytes (null: unreadable); null: not scrubbed */
  scrub: { file: string; sha256: string | null } | null;
  who: string;
}

export interface DataCopyRecord {
  id: number;
  trigger: DataCopyTrigger;
  sourceEnvironment: string | null;
  backupId: string | null;
  backupCreatedAt: string | null;
  scrubbed: boolean;
  scrubFile: string | null;
  scrubSha256: string | null;
  /** the restore in `slipway history` that brought the data in (null when it never started) */
  deploymentId: number | null;
  who: string;
  startedAt: string;
  finishedAt: string | null;
  /** null while it runs (or when the agent stopped in the middle) */
  outcome: DataCopyOutcome | null;
  error: string | null;
}

interface DataCopyRow {
  id: number;
  trigger: DataCopyTrigger;
  source_environment: string | null;
  backup_id: string | null;
  backup_created_at: string | null;
  scrubbed: number;
  scrub_file: string | null;
  scrub_sha256: string | null;
  deployment_id: number | null;
  who: string;
  started_at: string;
  finished_at: string | null;
  outcome: DataCopyOutcome | null;
  error: string | null;
}

/** Records the start of a copy (startedAt = now); returns its id. */
export function startDataCopy(db: Database.Database, copy: StartDataCopy): number {
  const result = db
    .prepare(
      `INSERT INTO data_copies (trigger, source_environment, backup_id, backup_created_at, scrubbed, scrub_file, scrub_sha256, who, started_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(copy.trigger, copy.sourceEnvironment, copy.backupId, copy.backupCreatedAt, copy.scrub ? 1 : 0, copy.scrub?.file ?? null, copy.scrub?.sha256 ?? null, copy.who, now());
  return Number(result.lastInsertRowid);
}

export function finishDataCopy(db: Database.Database, id: number, result: { outcome: DataCopyOutcome; deploymentId?: number | null; error?: string }): void {
  db.prepare('UPDATE data_copies SET finished_at = ?, outcome = ?, deployment_id = COALESCE(?, deployment_id), error = ? WHERE id = ?').run(
    now(),
    result.outcome,
    result.deploymentId ?? null,
    result.error ?? null,
    id,
  );
}

/** Newest first. */
export function listDataCopies(db: Database.Database, options: { limit?: number; outcome?: DataCopyOutcome } = {}): DataCopyRecord[] {
  const where = options.outcome ? 'WHERE outcome = ?' : '';
  const rows = db
    .prepare(`SELECT * FROM data_copies ${where} ORDER BY started_at DESC, id DESC LIMIT ?`)
    .all(...(options.outcome ? [options.outcome] : []), options.limit ?? -1) as DataCopyRow[];
  return rows.map(toRecord);
}

function toRecord(row: DataCopyRow): DataCopyRecord {
  return {
    id: row.id,
    trigger: row.trigger,
    sourceEnvironment: row.source_environment,
    backupId: row.backup_id,
    backupCreatedAt: row.backup_created_at,
    scrubbed: row.scrubbed === 1,
    scrubFile: row.scrub_file,
    scrubSha256: row.scrub_sha256,
    deploymentId: row.deployment_id,
    who: row.who,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    outcome: row.outcome,
    error: row.error,
  };
}
