// deps-app: a tiny web app that uses its npm dependencies at runtime.
//   GET /healthz        {"ok":true,"version":…} once the database answers
//   GET /version        the version, as text
//   GET /hello?name=…   greets (greeting → textcase 1, banner → its own textcase 2) and records it
import http from 'node:http';
import banner from 'banner';
import greeting from 'greeting';
import { openDb } from './db.js';

const VERSION = 'v1';

if (!process.env.PORT) {
  console.error('deps-app: PORT must be set');
  process.exit(2);
}
const db = openDb();

function send(res, status, body) {
  const json = typeof body !== 'string';
  res.writeHead(status, { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8' });
  res.end(json ? JSON.stringify(body) : body);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (url.pathname === '/healthz') {
      const { n } = db.prepare('SELECT count(*) AS n FROM greetings').get();
      return send(res, 200, { ok: true, version: VERSION, greetings: n });
    }
    if (url.pathname === '/version') return send(res, 200, VERSION);
    if (url.pathname === '/hello') {
      const message = greeting.greet(url.searchParams.get('name') ?? '');
      db.prepare('INSERT INTO greetings (name, created_at) VALUES (?, ?)').run(url.searchParams.get('name') ?? '', new Date().toISOString());
      return send(res, 200, { message, banner: banner.banner(message), version: VERSION });
    }
    return send(res, 404, 'not found');
  } catch (err) {
    return send(res, 500, { ok: false, error: err.message });
  }
});

server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(`deps-app ${VERSION}: listening on http://127.0.0.1:${process.env.PORT}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
