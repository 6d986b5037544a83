/**
 * Throughput and latency of the same tiny app served directly, through slipway's proxy over
 * HTTP and HTTPS, and through HAProxy and Caddy (Debian's packages, when installed) over HTTP
 * and HTTPS, in one run: N keep-alive clients on loopback for a fixed time each. Printed as
 * ratios to direct (measured first and last; the baseline is their mean).
 *
 *   node dist/bench/https-proxy.js        (BENCH_CLIENTS=32, BENCH_SECONDS=5)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
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

interface Result {
  rps: number;
  p50: number;
  p99: number;
  failed: number;
}

/** `clients` keep-alive connections sending GET / one after another for `seconds`. */
async function measure(port: number, secure: boolean, ca: string): Promise<Result> {
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
  const t0 = performance.now();
  await run(seconds * 1000, true, latencies, counts);
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), failed: counts.failed };
}

try {
  const cert = selfSigned({ dir, label: 'bench', names: [NAME] });
  const combined = path.join(dir, 'combined.pem');
  fs.writeFileSync(combined, cert.cert + cert.key, { mode: 0o600 });

  const appPort = await freePort();
  start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello from the app\\n'); }).listen(${appPort}, '127.0.0.1')`]);
  await answering(appPort, false, cert.cert);

  const targets: Array<{ name: string; port: number; secure: boolean }> = [{ name: 'direct', port: appPort, secure: false }];

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
  start(process.execPath, ['--input-type=module', '-e', proxyScript]);
  targets.push({ name: "slipway's proxy, HTTP", port: slipwayPlain, secure: false }, { name: "slipway's proxy, HTTPS", port: slipwayTls, secure: true });

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
    start('haproxy', ['-f', config, '-db']);
    targets.push({ name: 'HAProxy (nbthread 1), HTTP', port: plain, secure: false }, { name: 'HAProxy (nbthread 1), HTTPS', port: secure, secure: true });
  }
  if (has('caddy')) {
    const [plain, secure] = [await freePort(), await freePort()];
    const config = path.join(dir, 'Caddyfile');
    fs.writeFileSync(
      config,
      `{\n  admin off\n  auto_https off\n}\nhttp://:${plain} {\n  bind 127.0.0.1\n  reverse_proxy 127.0.0.1:${appPort}\n}\nhttps://${NAME}:${secure} {\n  bind 127.0.0.1\n  tls ${cert.certFile} ${cert.keyFile}\n  reverse_proxy 127.0.0.1:${appPort}\n}\n`,
    );
    // GOMAXPROCS=1: one core, as slipway's proxy and HAProxy get here.
    start('caddy', ['run', '--config', config, '--adapter', 'caddyfile'], { ...process.env, GOMAXPROCS: '1', HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir });
    targets.push({ name: 'Caddy (GOMAXPROCS 1), HTTP', port: plain, secure: false }, { name: 'Caddy (GOMAXPROCS 1), HTTPS', port: secure, secure: true });
  } else {
    console.log('https-proxy: caddy is not installed (apt-get install -y caddy): its rows are left out');
  }
  for (const target of targets) await answering(target.port, target.secure, cert.cert);

  const results = new Map<string, Result>();
  for (const target of targets) results.set(target.name, await measure(target.port, target.secure, cert.cert));
  const directAgain = await measure(appPort, false, cert.cert);
  const first = results.get('direct')!;
  const direct: Result = { rps: (first.rps + directAgain.rps) / 2, p50: (first.p50 + directAgain.p50) / 2, p99: (first.p99 + directAgain.p99) / 2, failed: first.failed + directAgain.failed };
  results.set('direct', direct);

  console.log(`https-proxy: ${clients} keep-alive clients, GET / (19-byte answer) for ${seconds} s each, on ${os.cpus().length} cores; load generator, app and proxy share them`);
  console.log(`https-proxy: direct measured first and last: ${first.rps.toFixed(0)} and ${directAgain.rps.toFixed(0)} req/s (baseline: their mean)`);
  console.log(`${'path'.padEnd(32)}${'req/s'.padStart(9)}${'× direct'.padStart(10)}${'p50 ms'.padStart(9)}${'× direct'.padStart(10)}${'p99 ms'.padStart(9)}${'× direct'.padStart(10)}${'failed'.padStart(8)}`);
  for (const target of targets) {
    const r = results.get(target.name)!;
    console.log(
      `${target.name.padEnd(32)}${r.rps.toFixed(0).padStart(9)}${(r.rps / direct.rps).toFixed(2).padStart(10)}${r.p50.toFixed(2).padStart(9)}${(r.p50 / direct.p50).toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(9)}${(r.p99 / direct.p99).toFixed(2).padStart(10)}${String(r.failed).padStart(8)}`,
    );
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
}
