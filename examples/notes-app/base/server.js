// notes v1 — start with `PORT=8080 node server.js` after `node migrate.js`.
import { runNotesServer } from './app.js';

const APP_VERSION = 'v1';

await runNotesServer({ version: APP_VERSION });
