/**
 * The ledger's host state: which release is current and which was before it, and
 * free-form values (e.g. the active blue/green slot). Ledger checks that it may write
 * before it calls the writers.
 */
import type Database from 'better-sqlite3';
import type { HostState } from './ledger-records.js';
import { statement } from './ledger-statements.js';

const STATE_CURRENT = 'current_id';
const STATE_PREVIOUS = 'previous_id';

export function getState(db: Database.Database): HostState {
  return { currentId: getStateValue(db, STATE_CURRENT), previousId: getStateValue(db, STATE_PREVIOUS) };
}

/** Sets current and previous together: a reader never sees one without the other. */
export function setCurrent(db: Database.Database, state: HostState): void {
  db.transaction(() => {
    setStateValue(db, STATE_CURRENT, state.currentId);
    setStateValue(db, STATE_PREVIOUS, state.previousId);
  }).immediate();
}

/** A free-form host state value (e.g. the active blue/green slot), null when unset. */
export function getStateValue(db: Database.Database, key: string): string | null {
  const row = statement(db, 'SELECT value FROM host_state WHERE key = ?').get(key) as { value: string | null } | undefined;
  return row?.value ?? null;
}

export function setStateValue(db: Database.Database, key: string, value: string | null): void {
  statement(db, 'INSERT INTO host_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
    .run(key, value);
}
