// The app's SQLite database, ./data/app.db (slipway links data/ to the host's shared folder).
//
// better-sqlite3 is a native module, so it is not vendored with the app's own
// dependencies: it comes from NODE_PATH (slipway.yml points it at a node_modules
// folder on the host that has it).
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);

export const DB_FILE = path.join('data', 'app.db');

/** Opens ./data/app.db (created if missing). */
export function openDb() {
  let Database;
  try {
    Database = require('better-sqlite3');
  } catch (err) {
    throw new Error(`cannot load better-sqlite3 (NODE_PATH is ${process.env.NODE_PATH || 'not set'}): ${err.message.split('\n')[0]}`);
  }
  mkdirSync(path.dirname(DB_FILE), { recursive: true });
  const db = new Database(DB_FILE);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** The columns of a table, [] when it does not exist. */
export function columnsOf(db, table) {
  return db.prepare(`PRAGMA table_info(${table})`).all().map((c) => c.name);
}
