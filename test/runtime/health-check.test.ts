import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import type { HealthCheckConfig } from '../../src/config/types.js';
import { probeHealth, waitUntilHealthy, watchHealth } from '../../src/runtime/health-check.js';
import { findFreePort, isPortFree } from '../../src/runtime/ports.js';
import { expectRejects } from '../helpers/expect-error.js';

/** Listens on a free loopback port; closed, with its connections, after the test. */
async function listenForTest(t: TestContext, server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
}

/** A server whose answer to the n-th probe (1-based) is chosen by the test; `null` never answers. */
async function healthServer(t: TestContext, statusFor: (probe: number) => number | null): Promise<{ url: string; probes: () => number }> {
  let probes = 0;
  const server = http.createServer((req, res) => {
    probes += 1;
    const status = statusFor(probes);
    if (status === null) return; // hang
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(String(status));
  });
  await listenForTest(t, server);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/healthz`, probes: () => probes };
}

const check = (overrides: Partial<HealthCheckConfig> = {}): HealthCheckConfig => ({
  path: '/healthz',
  intervalMs: 10,
  timeoutMs: 1000,
  successes: 2,
  deadlineMs: 10_000,
  ...overrides,
});

/** Awaits the health check's SlipwayError `code` (its message matching `pattern`): a hint, when there is one, says something. */
async function expectHealthError(subject: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  const error = await expectRejects(subject, code, pattern);
  assert.ok(error.hint === undefined || error.hint.length > 0);
}

describe('ports', () => {
  it('findFreePort returns a port that isPortFree agrees on, and isPortFree sees a taken port', async (t) => {
    const port = await findFreePort();
    assert.ok(port > 0);
    assert.equal(await isPortFree(port), true);
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    assert.equal(await isPortFree(port), false);
  });
});

describe('probeHealth', { timeout: 20_000 }, () => {
  it('reports 2xx as ok, other statuses and errors as not ok, and never throws', async (t) => {
    const server = await healthServer(t, (n) => (n === 1 ? 204 : n === 2 ? 500 : null));
    const ok = await probeHealth(server.url, 1000);
    assert.equal(ok.ok, true);
    assert.equal(ok.status, 204);
    const failing = await probeHealth(server.url, 1000);
    assert.deepEqual([failing.ok, failing.status], [false, 500]);
    const hanging = await probeHealth(server.url, 50);
    assert.equal(hanging.ok, false);
    assert.match(hanging.error ?? '', /no answer within 50ms/);

    const refused = await probeHealth(`http://127.0.0.1:${await findFreePort()}/healthz`, 1000);
    assert.deepEqual([refused.ok, refused.error], [false, 'ECONNREFUSED']);
    const invalid = await probeHealth('not a url', 1000);
    assert.equal(invalid.ok, false);
    assert.ok(invalid.error);
  });
});

describe('probeHealth against a body that never ends', { timeout: 20_000 }, () => {
  it('answers with the status at once and closes the connection: no socket and no body pile up', async (t) => {
    // A health endpoint that streams forever: 16 KiB every 5 ms, until its socket closes.
    let opened = 0;
    let closed = 0;
    let bytesSent = 0;
    const server = http.createServer((req, res) => {
      opened += 1;
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const timer = setInterval(() => {
        if (!res.writableEnded && !res.destroyed) bytesSent += res.write(chunk) ? chunk.length : 0;
      }, 5);
      req.socket.once('close', () => {
        clearInterval(timer);
        closed += 1;
      });
    });
    await listenForTest(t, server);
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/healthz`;

    for (let i = 0; i < 5; i += 1) {
      const probe = await probeHealth(url, 2000);
      assert.deepEqual([probe.ok, probe.status, probe.error], [true, 200, undefined], `probe ${i + 1}`);
      assert.ok(probe.ms < 2000, `probe ${i + 1} answered at the status, not at a timeout (${probe.ms} ms)`);
    }
    const until = Date.now() + 3000;
    while (closed < opened && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(opened, 5);
    assert.equal(closed, 5, 'the server saw every probe’s socket closed');
    const count = await new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    assert.equal(count, 0, 'no connection left open');
    const sentAfterClose = bytesSent;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(bytesSent, sentAfterClose, 'nothing is streamed once the probes are done');
  });
});

describe('waitUntilHealthy', { timeout: 20_000 }, () => {
  it('resolves after the required consecutive successes once the service becomes healthy', async (t) => {
    // 503, 503, 503, 200, 503 (resets the count), 200, 200
    const answers = [503, 503, 503, 200, 503, 200, 200];
    const server = await healthServer(t, (n) => answers[n - 1] ?? 200);
    const result = await waitUntilHealthy({ url: server.url, check: check({ successes: 2 }) });
    assert.equal(result.attempts, 7);
    assert.equal(server.probes(), 7);
  });

  it('fails with HEALTH_CHECK_FAILED when the deadline passes, naming the path, last status and attempts', async (t) => {
    const server = await healthServer(t, () => 404);
    await expectHealthError(waitUntilHealthy({ url: server.url, check: check({ deadlineMs: 200 }) }), 'HEALTH_CHECK_FAILED', /\/healthz.*HTTP 404.*after \d+ attempts/);
    assert.ok(server.probes() >= 2);
  });

  it('names the connection error when nothing listens', async () => {
    const url = `http://127.0.0.1:${await findFreePort()}/ready`;
    await expectHealthError(waitUntilHealthy({ url, check: check({ deadlineMs: 100 }) }), 'HEALTH_CHECK_FAILED', /\/ready.*ECONNREFUSED/);
  });

  it('stops at once with SERVICE_EXITED when the process is gone', async (t) => {
    const server = await healthServer(t, () => 503);
    let alive = true;
    const waiting = waitUntilHealthy({
      url: server.url,
      check: check({ intervalMs: 20, deadlineMs: 60_000 }),
      isAlive: () => alive,
    });
    while (server.probes() < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    alive = false;
    await expectHealthError(waiting, 'SERVICE_EXITED');

    const before = server.probes();
    await expectHealthError(waitUntilHealthy({ url: server.url, check: check(), isAlive: () => false }), 'SERVICE_EXITED');
    assert.equal(server.probes(), before, 'no probe once the process is known dead');
  });

  it('stops with HEALTH_CHECK_ABORTED when the signal aborts', async (t) => {
    const server = await healthServer(t, () => 503);
    const controller = new AbortController();
    const waiting = waitUntilHealthy({ url: server.url, check: check({ deadlineMs: 60_000 }), signal: controller.signal });
    while (server.probes() < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await expectHealthError(waiting, 'HEALTH_CHECK_ABORTED');
  });
});

describe('watchHealth', { timeout: 20_000 }, () => {
  it('passes the window when the service stays healthy, even with an isolated failed probe', async (t) => {
    const server = await healthServer(t, (n) => (n % 3 === 0 ? 500 : 200));
    const result = await watchHealth({ url: server.url, check: check({ successes: 1 }), windowMs: 150 });
    assert.deepEqual(result, { ok: true });
    assert.ok(server.probes() >= 3, 'the window saw a failed probe');
  });

  it('fails on consecutive failed probes once the service breaks', async (t) => {
    const server = await healthServer(t, (n) => (n <= 3 ? 200 : 500));
    const result = await watchHealth({ url: server.url, check: check({ successes: 3 }), windowMs: 60_000 });
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /failed 3 consecutive health probes: last answer HTTP 500/);
    assert.equal(server.probes(), 6);
  });
});
