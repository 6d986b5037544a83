import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { waitUntilHealthy, watchHealth } from '../../src/runtime/health-check.js';
import { findFreePort } from '../../src/runtime/ports.js';
import { isProcessRunning } from '../../src/runtime/process-info.js';
import { createProxy } from '../../src/runtime/proxy.js';
import { startService, type SupervisedService } from '../../src/runtime/supervisor.js';

// The runtime pieces composed the way the agent does it, with real processes: start the new release in the
// idle slot, wait for its health check, switch the proxy, drain and stop the old slot, watch the new one.

const APP = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  let length = 0;
  req.on('data', (chunk) => (length += chunk.length));
  req.on('end', () => res.end(process.env.VERSION + ':' + length));
});
server.keepAliveTimeout = 1000; // short, so pooled proxy sockets do go stale during the test
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const health: HealthCheckConfig = { path: '/healthz', intervalMs: 20, timeoutMs: 1000, successes: 2, deadlineMs: 15_000 };

function request(port: number, agent: http.Agent, method: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: '/', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

it('blue/green with real processes: start, health check, switch, drain, stop — no failed request', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-'));
  writeFileSync(path.join(dir, 'app.cjs'), APP);
  const services: SupervisedService[] = [];
  const proxy = await createProxy({ host: '127.0.0.1', port: 0 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(async () => {
    agent.destroy();
    await proxy.close();
    await Promise.all(services.map((service) => service.stop({ graceMs: 2000 })));
    rmSync(dir, { recursive: true, force: true });
  });

  const startRelease = async (version: string) => {
    const port = await findFreePort();
    const service = startService({
      name: `web-${version}`,
      command: `"${process.execPath}" app.cjs`,
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), VERSION: version },
      logFile: path.join(dir, `${version}.log`),
    });
    services.push(service);
    await waitUntilHealthy({ url: `http://127.0.0.1:${port}${health.path}`, check: health, isAlive: () => service.isAlive() });
    return { port, service };
  };

  const blue = await startRelease('v1');
  await proxy.switchTo(blue.port);

  // Load: 8 keep-alive clients, GETs and POSTs with bodies; stops by itself 500 requests after the switch.
  const failures: string[] = [];
  const versionsSeen = new Set<string>();
  const afterStop: string[] = [];
  let switchedAt = -1;
  let blueStopped = false;
  let sent = 0;
  const limit = () => (switchedAt < 0 ? 50_000 : switchedAt + 500);
  const client = async (n: number) => {
    while (sent < limit()) {
      sent += 1;
      const startedAfterStop = blueStopped;
      const post = sent % 3 === n % 3;
      try {
        const answer = await request(proxy.port, agent, post ? 'POST' : 'GET', post ? 'x'.repeat(sent % 5000) : undefined);
        if (answer.status !== 200) failures.push(`HTTP ${answer.status} ${answer.body}`);
        const version = answer.body.split(':')[0];
        versionsSeen.add(version);
        if (startedAfterStop) afterStop.push(version);
      } catch (error) {
        failures.push(String(error));
      }
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, n) => client(n)));

  while (sent < 300) await new Promise((resolve) => setTimeout(resolve, 5));
  const green = await startRelease('v2');
  const switched = await proxy.switchTo(green.port, { drainTimeoutMs: 10_000 });
  switchedAt = sent;
  const bluePid = blue.service.pid()!;
  await blue.service.stop({ graceMs: 5000 });
  blueStopped = true;
  const watched = await watchHealth({ url: `http://127.0.0.1:${green.port}${health.path}`, check: health, windowMs: 200 });
  await load;

  assert.deepEqual(failures, []);
  assert.deepEqual(switched, { previous: blue.port, drained: true, inFlightLeft: 0 });
  assert.deepEqual([...versionsSeen].sort(), ['v1', 'v2']);
  assert.ok(afterStop.length > 0);
  assert.deepEqual([...new Set(afterStop)], ['v2'], 'only the new release answers once the old one is stopped');
  assert.deepEqual(watched, { ok: true });
  assert.equal(blue.service.state(), 'stopped');
  assert.equal(isProcessRunning(bluePid), false);
  assert.equal(green.service.state(), 'running');
  assert.ok(isProcessRunning(green.service.pid()!));
  assert.equal(proxy.stats().errors, 0);
});
