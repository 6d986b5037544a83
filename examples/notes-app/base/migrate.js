// `npm run migrate`: applies the pending migrations of migrations.js, all in one
// transaction — either every pending migration is applied or none is. Safe to
// run again: applied versions are recorded in schema_migrations.
//
// NOTES_FAIL_MIGRATION=1 makes the run fail on purpose after doing its work,
// just before committing (to test that a failed migration changes nothing).
import { openDatabase, StartupError } from './db.js';
import { MIGRATIONS } from './migrations.js';

/**
 * @param {import('./db.js').Database} db
 * @param {{ failOnPurpose?: boolean }} [options]
 * @returns {Promise<number[]>} the versions applied by this run
 */
async function migrate(db, { failOnPurpose = false } = {}) {
  await db.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  return db.transaction(async (tx) => {
    // SQLite's BEGIN IMMEDIATE already serializes migrators; PostgreSQL needs a lock.
    if (db.engine === 'postgres') await tx.query('LOCK TABLE schema_migrations IN EXCLUSIVE MODE');
    const applied = new Set((await tx.query('SELECT version FROM schema_migrations')).map((row) => Number(row.version)));
    const pending = MIGRATIONS.filter((migration) => !applied.has(migration.version));
    for (const migration of pending) {
      await migration.up(tx, db.engine);
      await tx.query('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [
        migration.version,
        new Date().toISOString(),
      ]);
      console.log(`migrate: applied ${migration.version} (${migration.name})`);
    }
    if (failOnPurpose && pending.length > 0) {
      throw new Error(`NOTES_FAIL_MIGRATION=1: failing on purpose before commit; rolled back ${pending.length} migration(s)`);
    }
    return pending.map((migration) => migration.version);
  });
}

async function main() {
  let db;
  try {
    db = await openDatabase();
    const applied = await migrate(db, { failOnPurpose: process.env.NOTES_FAIL_MIGRATION === '1' });
    console.log(applied.length === 0 ? `migrate: up to date (${db.describe})` : `migrate: done (${db.describe})`);
  } catch (err) {
    const message = err instanceof StartupError ? err.message : `migration failed: ${/** @type {Error} */ (err).message}`;
    console.error(`notes: ${message}`);
    process.exitCode = 1;
  } finally {
    await db?.close();
  }
}

await main();
