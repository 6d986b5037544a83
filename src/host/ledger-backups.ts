/**
 * The ledger's backup catalog (src/data/catalog.ts builds on it): each backup with its
 * items, when a check last passed, and its off-site copy. Ledger checks that it may
 * write before it calls the writers.
 */
import type Database from 'better-sqlite3';
import type { BackupReason } from './backup-reasons.js';
import { now, type BackupItemRecord, type BackupRecord, type OffsiteCopyRecord } from './ledger-records.js';

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

/** Records a backup that exists on disk and passed its checks. */
export function recordBackup(db: Database.Database, backup: BackupRecord): void {
  db
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

export function getBackup(db: Database.Database, id: string): BackupRecord | null {
  const row = db.prepare('SELECT * FROM backups WHERE id = ?').get(id) as BackupRow | undefined;
  return row === undefined ? null : toBackup(row);
}

/** Newest first (ids sort by creation time). */
export function listBackups(db: Database.Database, options: { environment?: string; deploymentId?: number; limit?: number } = {}): BackupRecord[] {
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
  const rows = db.prepare(sql).all(...params, options.limit ?? -1) as BackupRow[];
  return rows.map(toBackup);
}

/** Records when a check last passed; null clears it (a later check failed). */
export function markBackupVerified(db: Database.Database, id: string, at: string | null = now()): boolean {
  return db.prepare('UPDATE backups SET verified_at = ? WHERE id = ?').run(at, id).changes > 0;
}

/** Records (or, with null, forgets) the backup's off-site copy; false when there is no such backup. */
export function markBackupOffsite(db: Database.Database, id: string, copy: OffsiteCopyRecord | null): boolean {
  return (
    db
      .prepare('UPDATE backups SET offsite_key = ?, offsite_key_id = ?, offsite_at = ? WHERE id = ?')
      .run(copy?.key ?? null, copy?.keyId ?? null, copy?.at ?? null, id).changes > 0
  );
}

/**
 * Makes an unclaimed backup update `deploymentId`'s own, in one statement: the entry is
 * never missing, and a backup another update claimed stays its. True when it was tied.
 */
export function tieBackupToDeployment(db: Database.Database, id: string, deploymentId: number): boolean {
  return db.prepare('UPDATE backups SET deployment_id = ? WHERE id = ? AND deployment_id IS NULL').run(deploymentId, id).changes > 0;
}

/** Forgets a backup (after its folder was removed); true when there was one. */
export function removeBackup(db: Database.Database, id: string): boolean {
  return db.prepare('DELETE FROM backups WHERE id = ?').run(id).changes > 0;
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
