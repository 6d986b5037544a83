/**
 * What the fault matrices read of a host's own files instead of asking the CLI for it on every
 * case: an independent look at what the agent wrote (read with SQLite itself, not slipway's
 * ledger module), at no CLI start. `history --json` and `lock status --json` are tested on their own.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { hostLayout } from '../../src/host/layout.js';
import { loadBetterSqlite3 } from './host-fixture.js';

export interface RecordedUpdate {
  outcome: string | null;
  finishedAt: string | null;
  steps: { name: string; outcome: string | null }[];
}

/** The newest deployment to `version` in the host's ledger, with its steps in the order they ran. */
export function latestUpdateTo(hostRoot: string, version: string): RecordedUpdate | null {
  return readLedger(hostRoot, (db) => {
    const row = db.prepare('SELECT id, outcome, finished_at AS finishedAt FROM deployments WHERE to_version = ? ORDER BY id DESC LIMIT 1').get(version) as { id: number; outcome: string | null; finishedAt: string | null } | undefined;
    if (!row) return null;
    const steps = db.prepare('SELECT name, outcome FROM deployment_steps WHERE deployment_id = ? ORDER BY id').all(row.id) as RecordedUpdate['steps'];
    return { outcome: row.outcome, finishedAt: row.finishedAt, steps };
  });
}

/** The host's lock file as written, or null when no lock is held. */
export function heldLock(hostRoot: string): string | null {
  const file = hostLayout(hostRoot).lockFile;
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}

/** The host's backups as its ledger lists them (what `slipway backups` reports), oldest first. */
export function recordedBackups(hostRoot: string): { id: string; createdAt: string }[] {
  return readLedger(hostRoot, (db) => db.prepare('SELECT id, created_at AS createdAt FROM backups ORDER BY created_at').all() as { id: string; createdAt: string }[]);
}

function readLedger<T>(hostRoot: string, read: (db: import('better-sqlite3').Database) => T): T {
  const db = new (loadBetterSqlite3())(path.join(hostRoot, 'ledger.db'), { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}
