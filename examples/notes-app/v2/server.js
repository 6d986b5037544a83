// notes v2 — start with `PORT=8080 node server.js` after `node migrate.js`.
// Healthy only once migration 2 has added notes.words (see notes.js NOTE_COLUMNS).
import { runNotesServer } from './app.js';

const APP_VERSION = 'v2';

await runNotesServer({ version: APP_VERSION });
