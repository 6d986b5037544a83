/**
 * The ledger's releases: those unpacked on this host, by id and by version. Their
 * manifests are not here (manifests/<id>.json beside the release); Ledger checks that
 * it may write before it calls the writers.
 */
import type Database from 'better-sqlite3';
import { now, type RecordReleaseInput, type ReleaseRecord } from './ledger-records.js';

interface ReleaseRow {
  id: string;
  version: string;
  commit_id: string;
  unpacked_at: string;
}

/** Records a release unpacked on this host; recording the same id again updates it. */
export function recordRelease(db: Database.Database, release: RecordReleaseInput): void {
  db
    .prepare(
      `INSERT INTO releases (id, version, commit_id, unpacked_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, commit_id = excluded.commit_id,
         unpacked_at = excluded.unpacked_at`,
    )
    .run(release.id, release.version, release.commit, release.unpackedAt ?? now());
}

export function getRelease(db: Database.Database, id: string): ReleaseRecord | null {
  const row = db.prepare('SELECT * FROM releases WHERE id = ?').get(id) as ReleaseRow | undefined;
  return row === undefined ? null : toRelease(row);
}

/** Newest unpacked first. */
export function listReleases(db: Database.Database): ReleaseRecord[] {
  const rows = db.prepare('SELECT * FROM releases ORDER BY unpacked_at DESC, rowid DESC').all() as ReleaseRow[];
  return rows.map(toRelease);
}

/** The most recently unpacked release with this version, or null. */
export function findReleaseByVersion(db: Database.Database, version: string): ReleaseRecord | null {
  const row = db
    .prepare('SELECT * FROM releases WHERE version = ? ORDER BY unpacked_at DESC, rowid DESC LIMIT 1')
    .get(version) as ReleaseRow | undefined;
  return row === undefined ? null : toRelease(row);
}

/** Forgets a release (after pruning it from disk); true when there was one. Deployment history keeps its versions. */
export function removeRelease(db: Database.Database, id: string): boolean {
  return db.prepare('DELETE FROM releases WHERE id = ?').run(id).changes > 0;
}

function toRelease(row: ReleaseRow): ReleaseRecord {
  return { id: row.id, version: row.version, commit: row.commit_id, unpackedAt: row.unpacked_at };
}
