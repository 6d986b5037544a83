/**
 * Runs one SQLite job off the main thread: better-sqlite3 is synchronous, and a copy
 * or a table scan of a large database must not stall the agent (its proxy, its API).
 *
 * The online backup copies every page in a single step, so it holds one read
 * snapshot: consistent while the app writes, and never restarted by those writes
 * (small steps would be restarted by every write of another connection).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { TableDigests } from '../fingerprint.js';
import type { Fingerprint } from '../types.js';

export type SqliteJob =
  | { op: 'backup'; source: string; dest: string }
  /** integrity_check, then the fingerprint: for a copy slipway owns (opened read-write) */
  | { op: 'inspect'; file: string }
  /** fingerprint of a live database, read-only, in one read transaction */
  | { op: 'fingerprint'; file: string }
  /** runs SQL in one transaction (a scrub) */
  | { op: 'exec'; file: string; sql: string };

export type SqliteJobResult = { ok: true; value: unknown } | { ok: false; error: { message: string; code?: string } };

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function encodeValue(value: unknown): string {
  if (value === null) return 'N';
  if (typeof value === 'bigint') return `I${value}`;
  if (typeof value === 'number') return `R${Object.is(value, -0) ? '-0' : String(value)}`;
  if (typeof value === 'string') return `T${value.length}:${value}`;
  if (Buffer.isBuffer(value)) return `B${value.length}:${value.toString('base64')}`;
  return `?${String(value)}`;
}

export function fingerprintDatabase(db: Database.Database): Fingerprint {
  const digests = new TableDigests();
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    .pluck()
    .all() as string[];
  for (const table of tables) {
    digests.table(table);
    const rows = db.prepare(`SELECT * FROM ${quoteIdentifier(table)}`).raw(true).safeIntegers(true);
    for (const row of rows.iterate() as Iterable<unknown[]>) digests.addRow(table, row.map(encodeValue).join('\u0000'));
  }
  return digests.result();
}

async function run(job: SqliteJob): Promise<unknown> {
  if (job.op === 'backup') {
    const source = new Database(job.source, { readonly: true, fileMustExist: true });
    try {
      source.pragma('busy_timeout = 10000');
      const result = await source.backup(job.dest, { progress: () => 0x7fffffff });
      return { pages: result.totalPages };
    } finally {
      source.close();
    }
  }
  if (job.op === 'inspect') {
    const db = new Database(job.file, { fileMustExist: true });
    try {
      const problems = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
      if (problems.length !== 1 || problems[0] !== 'ok') return { integrity: problems.slice(0, 10) };
      return { integrity: 'ok', fingerprint: fingerprintDatabase(db) };
    } finally {
      db.close();
    }
  }
  if (job.op === 'exec') {
    const db = new Database(job.file, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 10000');
      db.transaction(() => db.exec(job.sql))();
      return null;
    } finally {
      db.close();
    }
  }
  const db = new Database(job.file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    return db.transaction(() => fingerprintDatabase(db))();
  } finally {
    db.close();
  }
}

if (parentPort) {
  const port = parentPort;
  run(workerData as SqliteJob).then(
    (value) => port.postMessage({ ok: true, value } satisfies SqliteJobResult),
    (error: Error & { code?: string }) => port.postMessage({ ok: false, error: { message: error.message, code: error.code } } satisfies SqliteJobResult),
  );
}
