import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ServiceConfig } from '../../src/config/types.js';
import { parseProjectText } from '../../src/config/load.js';
import type { ReleaseManifest } from '../../src/release/manifest.js';
import { startSlot, stopSlot } from '../../src/runtime/slots.js';

// A worker listens on no port: `health: false` makes it healthy once it keeps running.

const WEB = `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1'); process.on('SIGTERM', () => process.exit(0));`;
const health = { path: '/healthz', intervalMs: 100, timeoutMs: 1000, successes: 2, deadlineMs: 10_000 };

function manifestOf(services: ServiceConfig[]): ReleaseManifest {
  return { app: 'w', version: 'v1', runtime: { services, data: { databases: [], folders: [] }, migrate: null, hooks: [], config: [] } } as unknown as ReleaseManifest;
}

async function slotWith(t: import('node:test').TestContext, workerScript: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-worker-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'web.cjs'), WEB);
  writeFileSync(path.join(dir, 'worker.cjs'), workerScript);
  const node = JSON.stringify(process.execPath);
  const services: ServiceConfig[] = [
    { name: 'web', command: `exec ${node} web.cjs`, portEnv: 'PORT', env: {}, health },
    { name: 'worker', command: `exec ${node} worker.cjs`, portEnv: 'PORT', env: {}, health: { ...health, http: false } },
  ];
  return startSlot({
    name: 'blue',
    manifest: manifestOf(services),
    releaseId: 'f'.repeat(64),
    cwd: dir,
    logsDir: path.join(dir, 'logs'),
    runDir: dir,
    environmentName: 'production',
    serviceEnvironment: (_service, extra) => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra }),
  });
}

test('a worker with health: false is healthy once it keeps running, without answering HTTP', async (t) => {
  const started = Date.now();
  const slot = await slotWith(t, 'setInterval(() => {}, 1000); process.on("SIGTERM", () => process.exit(0));');
  t.after(() => stopSlot(slot, 1000));
  assert.deepEqual(slot.services.map((s) => s.config.name), ['web', 'worker']);
  assert.ok(slot.services[1]!.process.isAlive());
  assert.ok(Date.now() - started >= 200, 'it waited successes × interval');
});

test('a worker with health: false that exits at start fails the release, with its output', async (t) => {
  await assert.rejects(slotWith(t, 'console.log("cannot reach the queue"); setTimeout(() => process.exit(3), 50);'), (error: Error & { code?: string; details?: string[] }) => {
    assert.equal(error.code, 'RELEASE_UNHEALTHY');
    assert.match(error.message, /service worker did not become healthy: The service exited/);
    assert.ok(error.details?.some((line) => line.includes('cannot reach the queue')), JSON.stringify(error.details));
    return true;
  });
});

test('health: false parses as { http: false }; the service the proxy fronts cannot have it', () => {
  const ok = parseProjectText('app: a\nservices:\n  web: { command: node s.js }\n  worker: { command: node w.js, health: false }\nenvironments:\n  production: { port: 8080 }\n', 'slipway.yml');
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.config!.services[1]!.health.http, false);
  assert.equal(ok.config!.services[0]!.health.http, undefined);
  const bad = parseProjectText('app: a\nservices:\n  web: { command: node s.js, health: false }\nenvironments:\n  production: { port: 8080 }\n', 'slipway.yml');
  assert.match(bad.problems.map((p) => p.message).join('\n'), /web is the service slipway's proxy sends traffic to, so it needs an HTTP health check/);
});
