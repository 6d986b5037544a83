// A tiny database adapter with the same surface for SQLite and PostgreSQL, so the
// app and its migrations write their SQL once (with `?` placeholders).
//
// The drivers are resolved through NODE_PATH: a release of this app has no
// node_modules of its own (slipway's fixture points NODE_PATH at slipway's).
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);

/**
 * @typedef {Record<string, unknown>} Row
 * @typedef {{ query(sql: string, params?: unknown[]): Promise<Row[]> }} Queryable
 * @typedef {Queryable & {
 *   engine: 'sqlite' | 'postgres',
 *   describe: string,
 *   columnsOf(table: string): Promise<string[]>,
 *   transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>,
 *   close(): Promise<void>,
 * }} Database
 */

/** The SQLite file, relative to the working directory (a release folder). */
export const SQLITE_PATH = path.join('data', 'notes.db');

/**
 * Opens PostgreSQL when DATABASE_URL is set, else SQLite at ./data/notes.db.
 * @param {{ env?: NodeJS.ProcessEnv }} [options]
 * @returns {Promise<Database>}
 */
export async function openDatabase({ env = process.env } = {}) {
  if (env.DATABASE_URL) return openPostgres(env.DATABASE_URL);
  return openSqlite(SQLITE_PATH);
}

/** An error whose message is meant for the person running the app. */
export class StartupError extends Error {}

/**
 * @param {string} name
 * @param {string} why
 */
function loadDriver(name, why) {
  try {
    return require(name);
  } catch (err) {
    const nodePath = process.env.NODE_PATH || '(not set)';
    throw new StartupError(
      `cannot load the "${name}" package, which ${why}: ${/** @type {Error} */ (err).message.split('\n')[0]}\n` +
        `  NODE_PATH is ${nodePath}; point it at a node_modules folder that has "${name}" installed.`,
    );
  }
}

/**
 * @param {string} file
 * @returns {Database}
 */
function openSqlite(file) {
  const BetterSqlite3 = loadDriver('better-sqlite3', 'the app needs for its SQLite database');
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  // WAL lets the old and the new release read while the other one writes.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');

  /** @type {Queryable['query']} */
  async function query(sql, params = []) {
    const statement = db.prepare(sql);
    if (statement.reader) return statement.all(...params);
    statement.run(...params);
    return [];
  }

  return {
    engine: 'sqlite',
    describe: `sqlite ${file}`,
    query,
    async columnsOf(table) {
      const rows = await query('SELECT name FROM pragma_table_info(?)', [table]);
      return rows.map((row) => String(row.name));
    },
    async transaction(work) {
      // IMMEDIATE takes the write lock up front, so two migrators cannot interleave.
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await work({ query });
        db.exec('COMMIT');
        return result;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    },
    async close() {
      db.close();
    },
  };
}

/**
 * @param {string} url
 * @returns {Database}
 */
function openPostgres(url) {
  const pg = loadDriver('pg', 'the app needs when DATABASE_URL is set');
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  // An idle client losing its connection must not crash the app.
  pool.on('error', (/** @type {Error} */ err) => console.error(`notes: postgres connection error: ${err.message}`));

  /**
   * @param {{ query(sql: string, params: unknown[]): Promise<{ rows: Row[] }> }} client
   * @returns {Queryable['query']}
   */
  const queryWith = (client) => async (sql, params = []) => (await client.query(toPostgresPlaceholders(sql), params)).rows;

  const query = queryWith(pool);
  return {
    engine: 'postgres',
    describe: `postgres ${describePostgresUrl(url)}`,
    query,
    async columnsOf(table) {
      const rows = await query(
        'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
        [table],
      );
      return rows.map((row) => String(row.column_name));
    },
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await work({ query: queryWith(client) });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}

/**
 * `?` → `$1`, `$2`, … (our SQL never has a `?` inside a string literal).
 * @param {string} sql
 */
export function toPostgresPlaceholders(sql) {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * host:port/database only: the URL may carry a password, which never goes to a log.
 * @param {string} url
 */
function describePostgresUrl(url) {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}
