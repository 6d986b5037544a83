// Applies the SQL files in migrations/ that ./data/app.db has not seen yet, in name
// order, each in its own transaction; says what it did. `node migrate.js`
import { readdirSync, readFileSync } from 'node:fs';
import { openDb, DB_FILE } from './db.js';

const db = openDb();
db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
const done = new Set(db.prepare('SELECT name FROM schema_migrations').all().map((r) => r.name));
const pending = readdirSync(new URL('./migrations/', import.meta.url))
  .filter((name) => name.endsWith('.sql') && !done.has(name))
  .sort();
for (const name of pending) {
  const sql = readFileSync(new URL(`./migrations/${name}`, import.meta.url), 'utf8');
  db.transaction(() => {
    db.exec(sql);
    db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(name, new Date().toISOString());
  })();
}
console.log(pending.length === 0 ? `migrate: up to date (${DB_FILE})` : `migrate: applied ${pending.length} (${pending.join(', ')}) to ${DB_FILE}`);
db.close();
