// The notes web app: HTTP routes, health check, graceful shutdown.
// server.js (one per version) says which version this is and starts it.
import http from 'node:http';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { openDatabase, StartupError } from './db.js';
import { createNoteStore, NOTE_COLUMNS } from './notes.js';

const HOST = '127.0.0.1';
const UPLOADS_DIR = 'uploads';
const MAX_JSON_BYTES = 64 * 1024;
const MAX_NOTE_CHARS = 10_000;
const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
const MAX_SLOW_MS = 10_000;
// Longer than the slowest request /slow can make, so draining never cuts one off.
const DRAIN_TIMEOUT_MS = 15_000;

const CONTENT_TYPES = /** @type {Record<string, string>} */ ({
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.pdf': 'application/pdf',
});

/**
 * A health probe runs on every GET /healthz after the schema check; throwing
 * makes /healthz answer 500 with the error's message.
 * @typedef {(db: import('./db.js').Database) => Promise<unknown>} HealthProbe
 */

class HttpError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * Starts the app on 127.0.0.1:$PORT and runs until SIGTERM/SIGINT, then drains
 * in-flight requests, closes the database and exits 0.
 * @param {{ version: string, healthProbes?: HealthProbe[] }} options
 */
export async function runNotesServer({ version, healthProbes = [] }) {
  const log = (/** @type {string} */ line) => console.log(`notes ${version}: ${line}`);
  const die = (/** @type {string} */ message) => {
    console.error(`notes ${version}: ${message}`);
    process.exit(1);
  };

  const port = parsePort(process.env.PORT);
  if (port === undefined) {
    die(`PORT must be set to the TCP port to listen on (1-65535), got ${JSON.stringify(process.env.PORT ?? null)}; e.g. PORT=8080 node server.js`);
    return;
  }
  // In a slipway release this is a link into the shared folder; standalone, a plain folder.
  // (The SQLite folder is made by db.js, only when SQLite is used: with PostgreSQL nothing
  // may be written into the release folder, which is read-only on a slipway host.)
  mkdirSync(UPLOADS_DIR, { recursive: true });

  /** @type {import('./db.js').Database} */
  let db;
  try {
    db = await openDatabase();
  } catch (err) {
    die(err instanceof StartupError ? err.message : `cannot open the database: ${/** @type {Error} */ (err).message}`);
    return;
  }

  let shuttingDown = false;
  const handle = createRequestHandler({ version, db, healthProbes, log });
  const server = http.createServer((req, res) => {
    // During a drain, keep-alive connections close after their current response.
    if (shuttingDown) res.setHeader('Connection', 'close');
    handle(req, res);
  });

  server.on('error', (err) => die(`cannot listen on ${HOST}:${port}: ${err.message}`));
  server.listen(port, HOST, () => log(`listening on http://${HOST}:${port} (${db.describe})`));

  /** @param {NodeJS.Signals} signal */
  async function shutdown(signal) {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${signal}: no longer accepting connections, finishing in-flight requests`);
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      log(`requests still running after ${DRAIN_TIMEOUT_MS} ms: closing their connections`);
      server.closeAllConnections();
    }, DRAIN_TIMEOUT_MS);
    const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
    await new Promise((resolve) => server.close(resolve));
    clearTimeout(timer);
    clearInterval(idleSweep);
    await db.close().catch((err) => log(`closing the database failed: ${err.message}`));
    log('stopped');
    process.exit(forced ? 1 : 0);
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

/** @param {string | undefined} value */
function parsePort(value) {
  if (!value || !/^\d+$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * @param {{ version: string, db: import('./db.js').Database, healthProbes: HealthProbe[], log(line: string): void }} deps
 * @returns {(req: http.IncomingMessage, res: http.ServerResponse) => void}
 */
function createRequestHandler({ version, db, healthProbes, log }) {
  const notes = createNoteStore(db);

  async function checkHealth() {
    const columns = await db.columnsOf('notes');
    if (columns.length === 0) throw new HttpError(503, 'table "notes" does not exist yet: run `npm run migrate`');
    const missing = NOTE_COLUMNS.filter((column) => !columns.includes(column));
    if (missing.length > 0) {
      throw new HttpError(503, `table "notes" lacks column(s) ${missing.join(', ')} that ${version} needs: run \`npm run migrate\``);
    }
    for (const probe of healthProbes) await probe(db);
  }

  /**
   * @param {http.IncomingMessage} req
   * @param {http.ServerResponse} res
   */
  async function route(req, res) {
    const url = new URL(req.url ?? '/', 'http://notes.invalid');
    const { pathname } = url;
    const method = req.method ?? 'GET';

    if (pathname === '/healthz') {
      allow(method, ['GET']);
      try {
        await checkHealth();
      } catch (err) {
        const status = err instanceof HttpError ? err.status : 500;
        return sendJson(res, status, { ok: false, version, error: /** @type {Error} */ (err).message });
      }
      return sendJson(res, 200, { ok: true, version });
    }
    if (pathname === '/version') {
      allow(method, ['GET']);
      return send(res, 200, 'text/plain; charset=utf-8', version);
    }
    if (pathname === '/api/notes') {
      allow(method, ['GET', 'POST']);
      if (method === 'GET') return sendJson(res, 200, await notes.list());
      const body = await readJson(req);
      const text = typeof body === 'object' && body !== null ? /** @type {{ text?: unknown }} */ (body).text : undefined;
      if (typeof text !== 'string' || text.trim() === '') throw new HttpError(400, 'send JSON {"text": "..."} with a non-empty text');
      if (text.length > MAX_NOTE_CHARS) throw new HttpError(413, `a note is at most ${MAX_NOTE_CHARS} characters`);
      return sendJson(res, 201, await notes.create(text));
    }
    if (pathname.startsWith('/uploads/')) {
      allow(method, ['GET', 'PUT']);
      const name = uploadName(pathname.slice('/uploads/'.length));
      return method === 'PUT' ? putUpload(req, res, name) : getUpload(res, name);
    }
    if (pathname === '/slow') {
      allow(method, ['GET']);
      const raw = url.searchParams.get('ms') ?? '0';
      if (!/^\d+$/.test(raw)) throw new HttpError(400, 'ms must be a whole number of milliseconds');
      const ms = Math.min(Number(raw), MAX_SLOW_MS);
      // Logged when the request starts, so a test can see it is in flight before stopping the app.
      log(`slow request: answering in ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return send(res, 200, 'text/plain; charset=utf-8', `slept ${ms} ms\n`);
    }
    if (pathname === '/') {
      allow(method, ['GET']);
      return send(res, 200, 'text/html; charset=utf-8', renderHome(version, await notes.list()));
    }
    throw new HttpError(404, `no route for ${pathname}`);
  }

  return (req, res) => {
    route(req, res).catch((err) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log(`error on ${req.method} ${req.url}: ${err.stack ?? err}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A refused request body may still be arriving: do not reuse this connection.
      if (!req.complete) res.setHeader('Connection', 'close');
      sendJson(res, status, { error: status === 500 ? 'internal error' : err.message });
    });
  };
}

/**
 * @param {string} method
 * @param {string[]} allowed
 */
function allow(method, allowed) {
  if (!allowed.includes(method)) throw new HttpError(405, `use ${allowed.join(' or ')}`);
}

/**
 * File names only: no folders, no way out of uploads/ (`..`, `/`), no hidden files.
 * @param {string} encoded
 */
function uploadName(encoded) {
  let name;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'malformed upload name');
  }
  if (name === '' || name.length > 200 || /[/\\\0]/.test(name) || name.includes('..') || name.startsWith('.')) {
    throw new HttpError(400, 'upload names are plain file names: no "/", "\\", ".." or leading "."');
  }
  return name;
}

/**
 * Streams the body to a temporary file, then renames it into place, so a reader
 * never sees half an upload.
 * @param {http.IncomingMessage} req
 * @param {http.ServerResponse} res
 * @param {string} name
 */
async function putUpload(req, res, name) {
  if (Number(req.headers['content-length'] ?? 0) > MAX_UPLOAD_BYTES) {
    throw new HttpError(413, `uploads are at most ${MAX_UPLOAD_BYTES} bytes`);
  }
  const target = path.join(UPLOADS_DIR, name);
  const temporary = path.join(UPLOADS_DIR, `.upload-${randomBytes(6).toString('hex')}`);
  let size = 0;
  const limit = new Transform({
    transform(chunk, _encoding, callback) {
      size += chunk.length;
      if (size > MAX_UPLOAD_BYTES) callback(new HttpError(413, `uploads are at most ${MAX_UPLOAD_BYTES} bytes`));
      else callback(null, chunk);
    },
  });
  try {
    await pipeline(req, limit, createWriteStream(temporary, { mode: 0o644 }));
    await rename(temporary, target);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
  sendJson(res, 201, { name, size });
}

/**
 * @param {http.ServerResponse} res
 * @param {string} name
 */
async function getUpload(res, name) {
  const file = path.join(UPLOADS_DIR, name);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new HttpError(404, `no upload named ${name}`);
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': info.size,
  });
  await pipeline(createReadStream(file), res);
}

/** @param {http.IncomingMessage} req */
async function readJson(req) {
  /** @type {Buffer[]} */
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) throw new HttpError(413, `JSON bodies are at most ${MAX_JSON_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {unknown} body
 */
function sendJson(res, status, body) {
  send(res, status, 'application/json', JSON.stringify(body));
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {string} contentType
 * @param {string} body
 */
function send(res, status, contentType, body) {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * @param {string} version
 * @param {Array<{ id: number, text: string, createdAt: string, words?: number | null }>} notes
 */
function renderHome(version, notes) {
  const items = notes
    .map((note) => {
      const words = note.words === undefined ? '' : ` <small>(${note.words ?? '?'} words)</small>`;
      return `    <li>${escapeHtml(note.text)}${words}</li>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>notes ${version}</title></head>
<body>
  <h1>Notes</h1>
  <p>version <span id="version">${version}</span> · ${notes.length} note(s)</p>
  <ul id="notes">
${items}
  </ul>
</body>
</html>
`;
}

/** @param {string} text */
function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
