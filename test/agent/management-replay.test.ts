/**
 * A captured management request replayed elsewhere or later: to a second agent that
 * shares the secret (another host, another environment) and to the same agent after
 * a restart. Real management servers on loopback, real nonce files on disk.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { statSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { signRequest, managementHostName } from '../../src/agent/management-auth.js';
import { createLogLimiter } from '../../src/agent/log-limiter.js';
import { startManagementServer, type ManagementHandlers } from '../../src/agent/management-server.js';
import { tempDir } from '../helpers/temp-dir.js';

const SECRET = 'replay-test-management-secret-0123456789';

interface Agent {
  port: number;
  calls: string[];
  log: string[];
  close(): Promise<void>;
}

async function startAgent(t: TestContext, o: { environment: string; host: string; nonceFile?: string; refusedLog?: { lines: number; windowMs: number } }): Promise<Agent> {
  const calls: string[] = [];
  const log: string[] = [];
  const handlers: ManagementHandlers = {
    notify: async () => (calls.push('notify'), { checking: true }),
    status: async () => (calls.push('status'), { environment: o.environment }),
    rollback: async (body) => (calls.push(`rollback ${JSON.stringify(body)}`), { ok: true }),
    history: async () => (calls.push('history'), []),
    logTail: async () => [],
  };
  const server = await startManagementServer({
    bind: '127.0.0.1',
    port: 0,
    secret: SECRET,
    environment: o.environment,
    host: o.host,
    ...(o.nonceFile ? { nonceFile: o.nonceFile } : {}),
    ...(o.refusedLog ? { refusedLog: o.refusedLog } : {}),
    rateLimit: { perSecond: 10_000, burst: 10_000 },
    handlers,
    log: (line) => log.push(line),
  });
  t.after(() => server.close());
  return { port: server.port, calls, log, close: () => server.close() };
}

/** A signed rollback as a client would send it to `port`: its headers, Host included, kept to replay them as they are. */
function capture(port: number, o: { environment: string; host: string }): { headers: Record<string, string>; body: string } {
  const body = '{"to":"v1","reason":"captured"}';
  const hostHeader = `127.0.0.1:${port}`;
  const signed = signRequest({ secret: SECRET, method: 'POST', path: '/v1/rollback', body, environment: o.environment, host: o.host, hostHeader });
  return { headers: { ...signed, host: hostHeader, 'content-type': 'application/json' }, body };
}

function send(port: number, request: { headers: Record<string, string>; body: string }): Promise<{ status: number; reason?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/rollback', headers: request.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const json = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { reason?: string };
        resolve({ status: res.statusCode ?? 0, ...(json.reason ? { reason: json.reason } : {}) });
      });
    });
    req.on('error', reject);
    req.end(request.body);
  });
}

test('a request captured on its way to one agent is refused by another agent sharing the secret (another host, another environment)', async (t) => {
  const web1 = await startAgent(t, { environment: 'production', host: 'web-1' });
  const web2 = await startAgent(t, { environment: 'production', host: 'web-2' });
  const staging = await startAgent(t, { environment: 'staging', host: 'web-1' });
  const captured = capture(web1.port, { environment: 'production', host: 'web-1' });

  assert.deepEqual(await send(web1.port, captured), { status: 200 });
  assert.deepEqual(web1.calls, ['rollback {"to":"v1","reason":"captured"}']);

  // replayed as it was (Host header and all), and with the Host header made to look like the target's
  assert.deepEqual(await send(web2.port, captured), { status: 401, reason: 'wrong-host' });
  assert.deepEqual(await send(web2.port, { ...captured, headers: { ...captured.headers, host: `127.0.0.1:${web2.port}` } }), { status: 401, reason: 'wrong-host' });
  assert.deepEqual(await send(web2.port, { ...captured, headers: { ...captured.headers, 'x-slipway-host': 'web-2' } }), { status: 401, reason: 'bad-signature' });
  assert.deepEqual(await send(staging.port, captured), { status: 401, reason: 'wrong-environment' });
  assert.deepEqual(await send(staging.port, { ...captured, headers: { ...captured.headers, 'x-slipway-environment': 'staging' } }), { status: 401, reason: 'bad-signature' });
  assert.deepEqual(web2.calls, []);
  assert.deepEqual(staging.calls, []);

  // each agent takes a request signed for it
  assert.deepEqual(await send(web2.port, capture(web2.port, { environment: 'production', host: 'web-2' })), { status: 200 });
  assert.deepEqual(await send(staging.port, capture(staging.port, { environment: 'staging', host: 'web-1' })), { status: 200 });
  assert.equal(web2.calls.length, 1);
  assert.equal(staging.calls.length, 1);
  // and the first one still refuses its own captured request a second time
  assert.deepEqual(await send(web1.port, captured), { status: 401, reason: 'replayed' });
  assert.equal(web1.calls.length, 1);
});

test('a request replayed to the same agent after a restart is refused: used nonces are kept in a 0600 file', async (t) => {
  const nonceFile = path.join(tempDir(t), 'run', 'management-nonces');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(path.dirname(nonceFile), { recursive: true });
  const before = await startAgent(t, { environment: 'production', host: 'web-1', nonceFile });
  const captured = capture(before.port, { environment: 'production', host: 'web-1' });
  assert.deepEqual(await send(before.port, captured), { status: 200 });
  assert.equal(statSync(nonceFile).mode & 0o777, 0o600);
  await before.close();

  const after = await startAgent(t, { environment: 'production', host: 'web-1', nonceFile });
  assert.deepEqual(await send(after.port, captured), { status: 401, reason: 'replayed' });
  assert.deepEqual(after.calls, []);
  // a fresh request is accepted, and a third start still knows both nonces
  const fresh = capture(after.port, { environment: 'production', host: 'web-1' });
  assert.deepEqual(await send(after.port, fresh), { status: 200 });
  assert.equal(after.calls.length, 1);
  await after.close();
  const third = await startAgent(t, { environment: 'production', host: 'web-1', nonceFile });
  assert.deepEqual(await send(third.port, captured), { status: 401, reason: 'replayed' });
  assert.deepEqual(await send(third.port, fresh), { status: 401, reason: 'replayed' });
  assert.deepEqual(third.calls, []);
  assert.equal(statSync(nonceFile).mode & 0o777, 0o600);
});

test('refused requests are logged at a bounded rate: N lines a window, then one line says how many more', async (t) => {
  const agent = await startAgent(t, { environment: 'production', host: 'web-1', refusedLog: { lines: 5, windowMs: 400 } });
  const unsigned = { headers: { 'content-type': 'application/json' }, body: '{}' };
  for (let i = 0; i < 30; i++) assert.equal((await send(agent.port, unsigned)).status, 401);
  const refused = () => agent.log.filter((line) => line.startsWith('management: refused'));
  assert.equal(refused().length, 5, agent.log.join('\n'));
  assert.match(refused()[0]!, /^management: refused POST \/v1\/rollback from 127\.0\.0\.1: missing-signature$/);
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(agent.log.slice(5), ['… 25 more refused requests in the last 400 ms (not logged one by one)']);
  // the next window logs again
  assert.equal((await send(agent.port, unsigned)).status, 401);
  assert.equal(refused().length, 6);
  assert.deepEqual(agent.calls, []);
});

test('the log limiter says "in the last minute" for its default window and writes nothing more when nothing was left out', () => {
  const lines: string[] = [];
  let now = 0;
  const log = createLogLimiter({ log: (line) => lines.push(line), lines: 20, windowMs: 60_000, what: 'refused requests', now: () => now });
  for (let i = 0; i < 260; i++) log(`refused ${i}`);
  assert.equal(lines.length, 20);
  now = 60_001;
  log('refused in the next minute');
  assert.deepEqual(lines.slice(20), ['… 240 more refused requests in the last minute (not logged one by one)', 'refused in the next minute']);
  log.flush();
  assert.equal(lines.length, 22);
});

test('managementHostName: the first remote host, else the environment hostname, else the machine', () => {
  assert.equal(managementHostName({ hosts: [{ name: 'web-1', ssh: 'ssh://a', dependsOn: [] }], hostname: 'x' }), 'web-1');
  assert.equal(managementHostName({ hosts: [], hostname: 'box' }), 'box');
  assert.ok(managementHostName({ hosts: [] }).length > 0);
});
