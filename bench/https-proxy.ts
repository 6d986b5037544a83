/**
 * Throughput and latency of the same tiny app served directly, through slipway's proxy over
 * HTTP and HTTPS, and through HAProxy and Caddy (Debian's packages, when installed) over HTTP
 * and HTTPS, in one run: N keep-alive clients on loopback for a fixed time each. Printed as
 * ratios to direct (measured first and last; the baseline is their mean).
 *
 * Each proxy row also gives the CPU time (user + system, all threads, from /proc/<pid>/stat)
 * the proxy's process and any children spent per request during the timed load. A last pair of
 * rows is the floor for a proxy in Node: Node's HTTP(S) server handing each request to an undici
 * Pool and the answer back, raw headers both ways, nothing else.
 *
 *   node dist/bench/https-proxy.js        (BENCH_CLIENTS=32, BENCH_SECONDS=5)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/free-port.js';
import { percentile } from '../test/helpers/load.js';
import { selfSigned } from '../test/helpers/self-signed.js';
import { waitUntil } from '../test/helpers/wait-until.js';

const clients = Number(process.env.BENCH_CLIENTS ?? 32);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const NAME = 'bench.slipway.test';
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-https-'));

function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-2000)));
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM') process.stderr.write(`${command} exited (${code ?? signal}): ${errors}\n`);
  });
  children.push(child);
  return child;
}

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

async function answering(port: number, secure: boolean, ca: string): Promise<void> {
  await waitUntil(`port ${port} to answer`, () =>
    new Promise<boolean>((resolve) => {
      const options = { host: '127.0.0.1', port, path: '/', headers: { host: NAME }, agent: false as const };
      const req = secure ? https.get({ ...options, ca, servername: NAME }, (res) => resolve(res.statusCode === 200)) : http.get(options, (res) => resolve(res.statusCode === 200));
      req.on('error', () => resolve(false));
    }), 20_000);
}

const ticksPerSecond = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** A process and its descendants (HAProxy or Caddy could fork workers), read from /proc. */
function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** CPU seconds (user + system, every thread's, exited ones included) the processes have used so far. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start at field 3: utime is 14, stime 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited: its time is lost, as it would be to `ps`
    }
  }
  return ticks / ticksPerSecond;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
  /** CPU µs per request answered in the timed load, of the processes given to measure(); null without them */
  cpuUs: number | null;
}

/**
 * `clients` keep-alive connections sending GET / one after another for `seconds`; the CPU time of
 * process `pid` (and its children) is read right before and after the timed part.
 */
async function measure(port: number, secure: boolean, ca: string, pid?: number): Promise<Result> {
  const agent = secure ? new https.Agent({ keepAlive: true, maxSockets: clients, ca, servername: NAME }) : new http.Agent({ keepAlive: true, maxSockets: clients });
  const send = () =>
    new Promise<boolean>((resolve) => {
      const options = { host: '127.0.0.1', port, path: '/', headers: { host: NAME }, agent };
      const onResponse = (res: http.IncomingMessage) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      };
      const req = secure ? https.get(options, onResponse) : http.get(options, onResponse);
      req.on('error', () => resolve(false));
    });
  const run = async (ms: number, record: boolean, latencies: number[], counts: { failed: number }) => {
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          const ok = await send();
          if (!record) continue;
          if (ok) latencies.push(performance.now() - t0);
          else counts.failed += 1;
        }
      }),
    );
  };
  await run(1000, false, [], { failed: 0 }); // warm-up: connections, TLS sessions, JIT
  const latencies: number[] = [];
  const counts = { failed: 0 };
  const pids = pid === undefined ? [] : processTree(pid);
  const cpu0 = cpuSeconds(pids);
  const t0 = performance.now();
  await run(seconds * 1000, true, latencies, counts);
  const elapsed = (performance.now() - t0) / 1000;
  // Every request sent in the timed part has been answered here (each client waits for its last one).
  const cpu = cpuSeconds(pids) - cpu0;
  agent.destroy();
  const served = latencies.length + counts.failed;
  return {
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failed: counts.failed,
    cpuUs: pids.length > 0 && served > 0 ? (cpu / served) * 1e6 : null,
  };
}

try {
  const cert = selfSigned({ dir, label: 'bench', names: [NAME] });
  const combined = path.join(dir, 'combined.pem');
  fs.writeFileSync(combined, cert.cert + cert.key, { mode: 0o600 });

  const appPort = await freePort();
  const app = start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello from the app\\n'); }).listen(${appPort}, '127.0.0.1')`]);
  await answering(appPort, false, cert.cert);

  // pid: the process whose CPU time (with its children's) is the row's proxy CPU
  const targets: Array<{ name: string; port: number; secure: boolean; pid?: number }> = [{ name: 'direct', port: appPort, secure: false }];

  // slipway's proxy in its own process, as in the agent: plain on one port, HTTPS on another.
  const [slipwayPlain, slipwayTls, slipwayRedirect] = [await freePort(), await freePort(), await freePort()];
  const proxyScript = `
    import fs from 'node:fs';
    const { createProxy } = await import(${JSON.stringify(path.join(dist, 'src/runtime/proxy.js'))});
    const { SecureContexts } = await import(${JSON.stringify(path.join(dist, 'src/runtime/proxy-tls.js'))});
    const contexts = new SecureContexts();
    contexts.set(${JSON.stringify(NAME)}, { cert: fs.readFileSync(${JSON.stringify(cert.certFile)}), key: fs.readFileSync(${JSON.stringify(cert.keyFile)}) });
    const proxy = await createProxy({ host: '127.0.0.1', port: ${slipwayPlain}, tls: { port: ${slipwayTls}, httpPort: ${slipwayRedirect}, redirectHttp: true, contexts } });
    await proxy.switchTo(${appPort});
    setInterval(() => {}, 1 << 30);`;
  const slipway = start(process.execPath, ['--input-type=module', '-e', proxyScript]);
  targets.push({ name: "slipway's proxy, HTTP", port: slipwayPlain, secure: false, pid: slipway.pid }, { name: "slipway's proxy, HTTPS", port: slipwayTls, secure: true, pid: slipway.pid });

  if (has('haproxy')) {
    const [plain, secure] = [await freePort(), await freePort()];
    const config = path.join(dir, 'haproxy.cfg');
    fs.writeFileSync(
      config,
      [
        'global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode http', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s', '  option http-keep-alive',
        `frontend plain`, `  bind 127.0.0.1:${plain}`, '  default_backend app',
        `frontend secure`, `  bind 127.0.0.1:${secure} ssl crt ${combined} alpn http/1.1`, '  default_backend app',
        'backend app', `  server app 127.0.0.1:${appPort}`, '',
      ].join('\n'),
    );
    const haproxy = start('haproxy', ['-f', config, '-db']);
    targets.push({ name: 'HAProxy (nbthread 1), HTTP', port: plain, secure: false, pid: haproxy.pid }, { name: 'HAProxy (nbthread 1), HTTPS', port: secure, secure: true, pid: haproxy.pid });
  }
  if (has('caddy')) {
    const [plain, secure] = [await freePort(), await freePort()];
    const config = path.join(dir, 'Caddyfile');
    fs.writeFileSync(
      config,
      `{\n  admin off\n  auto_https off\n}\nhttp://:${plain} {\n  bind 127.0.0.1\n  reverse_proxy 127.0.0.1:${appPort}\n}\nhttps://${NAME}:${secure} {\n  bind 127.0.0.1\n  tls ${cert.certFile} ${cert.keyFile}\n  reverse_proxy 127.0.0.1:${appPort}\n}\n`,
    );
    // GOMAXPROCS=1: one core, as slipway's proxy and HAProxy get here.
    const caddy = start('caddy', ['run', '--config', config, '--adapter', 'caddyfile'], { ...process.env, GOMAXPROCS: '1', HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir });
    targets.push({ name: 'Caddy (GOMAXPROCS 1), HTTP', port: plain, secure: false, pid: caddy.pid }, { name: 'Caddy (GOMAXPROCS 1), HTTPS', port: secure, secure: true, pid: caddy.pid });
  } else {
    console.log('https-proxy: caddy is not installed (apt-get install -y caddy): its rows are left out');
  }

  // The floor for a proxy in Node: each request handed to an undici Pool as it came (raw headers,
  // no body: the load is GETs) and the answer written back as it came; no header rules, no
  // retries, no counting. The same Pool options as slipway's targets.
  const [leanPlain, leanTls] = [await freePort(), await freePort()];
  const undici = createRequire(import.meta.url).resolve('undici');
  const leanScript = `
    import fs from 'node:fs';
    import http from 'node:http';
    import https from 'node:https';
    const { Pool } = await import(${JSON.stringify(undici)});
    const pool = new Pool('http://127.0.0.1:${appPort}', { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 1000 });
    const forward = (req, res) => pool.dispatch({ path: req.url, method: req.method, headers: req.rawHeaders, body: null }, {
      onConnect() {},
      onHeaders(status, raw) { res.writeHead(status, raw.map((b) => b.toString('latin1'))); return true; },
      onData(chunk) { res.write(chunk); return true; },
      onComplete() { res.end(); },
      onError() { if (!res.headersSent) res.writeHead(502); res.end(); },
    });
    http.createServer(forward).listen(${leanPlain}, '127.0.0.1');
    https.createServer({ cert: fs.readFileSync(${JSON.stringify(cert.certFile)}), key: fs.readFileSync(${JSON.stringify(cert.keyFile)}) }, forward).listen(${leanTls}, '127.0.0.1');`;
  const lean = start(process.execPath, ['--input-type=module', '-e', leanScript]);
  targets.push({ name: 'Node server + undici, HTTP', port: leanPlain, secure: false, pid: lean.pid }, { name: 'Node server + undici, HTTPS', port: leanTls, secure: true, pid: lean.pid });
  for (const target of targets) await answering(target.port, target.secure, cert.cert);

  const results = new Map<string, Result>();
  for (const target of targets) results.set(target.name, await measure(target.port, target.secure, cert.cert, target.pid));
  const directAgain = await measure(appPort, false, cert.cert, app.pid);
  const first = results.get('direct')!;
  const direct: Result = { rps: (first.rps + directAgain.rps) / 2, p50: (first.p50 + directAgain.p50) / 2, p99: (first.p99 + directAgain.p99) / 2, failed: first.failed + directAgain.failed, cpuUs: null };
  results.set('direct', direct);

  console.log(`https-proxy: ${clients} keep-alive clients, GET / (19-byte answer) for ${seconds} s each, on ${os.cpus().length} cores; load generator, app and proxy share them`);
  console.log(`https-proxy: direct measured first and last: ${first.rps.toFixed(0)} and ${directAgain.rps.toFixed(0)} req/s (baseline: their mean)`);
  console.log(`https-proxy: proxy CPU is user + system time of the proxy's process (all threads) during the timed load, per request; the app itself spent ${directAgain.cpuUs!.toFixed(0)} µs per request directly (last run)`);
  console.log(`${'path'.padEnd(32)}${'req/s'.padStart(9)}${'× direct'.padStart(10)}${'p50 ms'.padStart(9)}${'× direct'.padStart(10)}${'p99 ms'.padStart(9)}${'× direct'.padStart(10)}${'failed'.padStart(8)}${'CPU µs/req'.padStart(12)}`);
  for (const target of targets) {
    const r = results.get(target.name)!;
    console.log(
      `${target.name.padEnd(32)}${r.rps.toFixed(0).padStart(9)}${(r.rps / direct.rps).toFixed(2).padStart(10)}${r.p50.toFixed(2).padStart(9)}${(r.p50 / direct.p50).toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(9)}${(r.p99 / direct.p99).toFixed(2).padStart(10)}${String(r.failed).padStart(8)}${(r.cpuUs === null ? '-' : r.cpuUs.toFixed(0)).padStart(12)}`,
    );
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
}
