// notes v3 — start with `PORT=8080 node server.js` after `node migrate.js`.
//
// v3 is the release whose health check fails, on purpose: its health check also
// probes the search index table `notes_search`, but the migration that should
// create it was never written. The app starts and listens; GET /healthz answers
// 500. slipway's tests use it to check that a failed deploy leaves v2 serving.
import { runNotesServer } from './app.js';

const APP_VERSION = 'v3';

/** @param {import('./db.js').Database} db */
async function searchIndexIsReady(db) {
  await db.query('SELECT note_id, term FROM notes_search LIMIT 1');
}

await runNotesServer({ version: APP_VERSION, healthProbes: [searchIndexIsReady] });
