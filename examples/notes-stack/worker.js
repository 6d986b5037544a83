// The notes worker: every few seconds it counts the notes and logs the count, the
// way a queue worker polls its jobs. It answers /healthz on $PORT so that an update
// knows it started (a worker that cannot reach the database is not healthy).
import http from 'node:http';
import { openDatabase } from './db.js';

const port = Number(process.env.PORT);
const version = process.env.SLIPWAY_VERSION ?? 'dev';
const db = await openDatabase();
let lastCount = -1;
let healthy = false;

async function tick() {
  try {
    const [row] = await db.query('SELECT COUNT(*) AS n FROM notes');
    const count = Number(row?.n ?? 0);
    if (count !== lastCount) console.log(`worker ${version}: ${count} notes`);
    lastCount = count;
    healthy = true;
  } catch (error) {
    healthy = false;
    console.error(`worker ${version}: ${error.message}`);
  }
}

const timer = setInterval(tick, 2000);
await tick();
const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/healthz' && healthy ? 200 : 503, { 'content-type': 'text/plain' });
  res.end(healthy ? 'ok\n' : 'not ready\n');
});
server.listen(port, '127.0.0.1', () => console.log(`worker ${version}: health on 127.0.0.1:${port}`));

async function stop(signal) {
  console.log(`worker ${version}: ${signal}, stopping`);
  clearInterval(timer);
  server.close();
  await db.close().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
