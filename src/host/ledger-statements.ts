/**
 * Prepared statements kept per ledger connection. Compiling one costs about as much as running
 * it, and an update writes a row per step: the agent, which keeps its ledger open, compiles
 * each of its fixed statements once. Only fixed SQL text belongs here (not built per call).
 */
import type Database from 'better-sqlite3';

const compiled = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** `db.prepare(sql)`, compiled once per connection. */
export function statement(db: Database.Database, sql: string): Database.Statement {
  let byText = compiled.get(db);
  if (byText === undefined) {
    byText = new Map();
    compiled.set(db, byText);
  }
  let prepared = byText.get(sql);
  if (prepared === undefined) {
    prepared = db.prepare(sql);
    byText.set(sql, prepared);
  }
  return prepared;
}
