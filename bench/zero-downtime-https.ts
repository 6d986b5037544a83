/**
 * The zero-downtime bench over HTTPS: latency and failures seen by keep-alive HTTPS clients while
 * slipway switches v1 → v2 (a migration: writes held while it runs), the TLS terminated by
 * slipway's own proxy (`tls: { cert_file, key_file }`). The baseline is the same load before the
 * deploy, measured in the same run.
 *
 *   node dist/bench/zero-downtime-https.js        (BENCH_CLIENTS=8, BENCH_SECONDS=30)
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createHostFixture } from '../test/helpers/host-fixture.js';
import { freePort } from '../test/helpers/free-port.js';
import { notesTraffic, percentile } from '../test/helpers/load.js';
import { selfSigned } from '../test/helpers/self-signed.js';

const clients = Number(process.env.BENCH_CLIENTS ?? 8);
const maxSeconds = Number(process.env.BENCH_SECONDS ?? 30);
const baselineMs = 3_000;
const NAME = 'notes.slipway.test';

interface Sample {
  startMs: number;
  ms: number;
  ok: boolean;
  write: boolean;
}

const teardowns: Array<() => Promise<void>> = [];
try {
  const host = await createHostFixture({ after: (fn) => teardowns.push(fn) }, { healthWindow: '1s', drainTimeout: '5s', build: ['v1', 'v2'] });
  const cert = selfSigned({ dir: host.dir, label: 'site', names: [NAME] });
  const [tlsPort, httpPort] = [await freePort(), await freePort()];
  fs.appendFileSync(path.join(host.repo, 'slipway.yml'), `    tls: { cert_file: ${cert.certFile}, key_file: ${cert.keyFile}, port: ${tlsPort}, http_port: ${httpPort} }\n`);
  await host.startAgent();
  const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  if (v1.code !== 0) throw new Error(`deploy v1 failed:\n${v1.stderr}`);

  const agent = new https.Agent({ keepAlive: true, maxSockets: clients, ca: cert.cert, servername: NAME });
  const t0 = performance.now();
  const samples: Sample[] = [];
  let stop = false;
  let seq = 0;
  const traffic = notesTraffic({ writeEvery: 8, tag: 'bench-https' });
  const send = (request: ReturnType<typeof traffic>) =>
    new Promise<boolean>((resolve) => {
      const req = https.request({ host: '127.0.0.1', port: tlsPort, method: request.method, path: request.path, headers: { host: NAME, ...(request.body ? { 'content-type': 'application/json' } : {}) }, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
      });
      req.on('error', () => resolve(false));
      req.end(request.body);
    });
  const deadline = t0 + maxSeconds * 1000;
  const workers = Array.from({ length: clients }, async () => {
    while (!stop && performance.now() < deadline) {
      const request = traffic(seq++);
      const startMs = performance.now() - t0;
      const ok = await send(request);
      samples.push({ startMs, ms: performance.now() - t0 - startMs, ok, write: request.method === 'POST' });
    }
  });
  await new Promise((r) => setTimeout(r, 500 + baselineMs));
  const deployStart = performance.now() - t0;
  const deploy = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  const deployEnd = performance.now() - t0;
  if (deploy.code !== 0) throw new Error(`deploy v2 failed:\n${deploy.stderr}`);
  await new Promise((r) => setTimeout(r, 2_000));
  stop = true;
  await Promise.all(workers);
  agent.destroy();

  const phases: Array<[string, (s: Sample) => boolean]> = [
    [`before (baseline, last ${baselineMs / 1000} s)`, (s) => s.startMs >= deployStart - baselineMs && s.startMs < deployStart],
    ['during the deploy (start → exit)', (s) => s.startMs >= deployStart && s.startMs < deployEnd],
    ['after (2 s)', (s) => s.startMs >= deployEnd],
  ];
  const fmt = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(1));
  console.log(`zero-downtime-https: ${clients} keep-alive HTTPS clients, GET / and /api/notes, 1 in 8 a POST; v1 → v2 (migration), TLS terminated by slipway's proxy`);
  console.log(`${'phase'.padEnd(40)}${'requests'.padStart(9)}${'failed'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'write p50'.padStart(11)}`);
  for (const [name, pick] of phases) {
    const picked = samples.filter(pick);
    const ms = picked.map((s) => s.ms);
    console.log(
      `${name.padEnd(40)}${String(picked.length).padStart(9)}${String(picked.filter((s) => !s.ok).length).padStart(8)}${fmt(percentile(ms, 50)).padStart(9)}${fmt(percentile(ms, 99)).padStart(9)}${fmt(ms.length ? Math.max(...ms) : NaN).padStart(9)}${fmt(percentile(picked.filter((s) => s.write).map((s) => s.ms), 50)).padStart(11)}`,
    );
  }
  const failed = samples.filter((s) => !s.ok).length;
  console.log(`zero-downtime-https: ${samples.length} requests, ${failed} failed; deploy took ${((deployEnd - deployStart) / 1000).toFixed(2)} s (1 s health window included)`);
  const before = samples.filter(phases[0]![1]).map((s) => s.ms);
  const during = samples.filter(phases[1]![1]).map((s) => s.ms);
  console.log(`zero-downtime-https: p99 during the deploy / p99 before = ${(percentile(during, 99) / percentile(before, 99)).toFixed(2)}x`);
  if (failed > 0) process.exitCode = 1;
} finally {
  for (const teardown of teardowns.reverse()) await teardown().catch((error) => console.error(`teardown: ${(error as Error).message}`));
}
