/** A host ledger as an older slipway left it, for the tests of the migrations that upgrade it. */
import Database from 'better-sqlite3';
import { LEDGER_MIGRATIONS } from '../../src/host/ledger.js';

/**
 * Creates the ledger at `file` with only the first `version` migrations applied, the way
 * that older slipway wrote it (WAL), and returns it open for rows of that schema.
 * Built from the migrations themselves: faking it by deleting schema_version rows
 * from a current ledger would make the newer migrations run twice.
 */
export function createLedgerAtVersion(file: string, version: number): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  for (let v = 1; v <= version; v++) {
    db.exec(LEDGER_MIGRATIONS[v - 1]!);
    db.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(v, '2025-01-01T00:00:00.000Z');
  }
  return db;
}
