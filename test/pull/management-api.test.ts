import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { SlipwayError } from '../../src/errors.js';
import { createNonceCache, readManagementSecret, signRequest, verifyRequest } from '../../src/agent/management-auth.js';
import { startManagementServer, type ManagementHandlers } from '../../src/agent/management-server.js';
import { expectThrows } from '../helpers/expect-error.js';

const SECRET = 'correct horse battery staple 42';
/** the agent these tests talk to */
const ENV = 'production';
const HOST = 'web-1';

interface Reply {
  status: number;
  json: any;
  text: string;
  headers: http.IncomingHttpHeaders;
}

function request(port: number, o: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method, path: o.path, headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any = null;
        try {
          json = JSON.parse(text);
        } catch {
          // HTML or empty
        }
        resolve({ status: res.statusCode ?? 0, json, text, headers: res.headers });
      });
    });
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

/** Signed as a client of the agent at 127.0.0.1:port signs it (http.request sends that Host header). */
function signFor(port: number, o: { method: string; path: string; body?: string; secret?: string; timestamp?: number; environment?: string; host?: string }) {
  return signRequest({ secret: SECRET, environment: ENV, host: HOST, hostHeader: `127.0.0.1:${port}`, ...o });
}

function signed(port: number, method: string, path: string, body = '', options: { secret?: string; timestamp?: number; environment?: string; host?: string } = {}): Promise<Reply> {
  const headers = signFor(port, { method, path, body, ...options });
  return request(port, { method, path, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body || undefined });
}

function fakeHandlers() {
  const calls = { notify: 0, status: 0, rollback: [] as unknown[], history: 0, logTail: [] as number[] };
  const handlers: ManagementHandlers = {
    notify: async () => {
      calls.notify += 1;
      return { checking: true };
    },
    status: async () => {
      calls.status += 1;
      return { environment: 'production', current: { id: 'a'.repeat(64), version: 'v2' } };
    },
    rollback: async (body) => {
      calls.rollback.push(body);
      if (body.to === 'nowhere') throw new SlipwayError('RELEASE_NOT_ON_HOST', 'no release nowhere on this host', { exitCode: 2 });
      return { ok: true, version: 'v1' };
    },
    history: async () => {
      calls.history += 1;
      return [];
    },
    logTail: async (lines) => {
      calls.logTail.push(lines);
      return ['line one', 'line two'];
    },
  };
  return { calls, handlers };
}

async function serve(t: TestContext, options: { rateLimit?: { perSecond: number; burst: number } } = {}) {
  const { calls, handlers } = fakeHandlers();
  const log: string[] = [];
  const server = await startManagementServer({ bind: '127.0.0.1', port: 0, secret: SECRET, environment: ENV, host: HOST, handlers, log: (line) => log.push(line), title: 'demo / production', ...options });
  t.after(() => server.close());
  return { port: server.port, calls, log };
}

test('signing and verifying agree; a changed method, path, body, Host header, environment or host fails', () => {
  const nonces = createNonceCache();
  const body = '{"to":"v1"}';
  const hostHeader = 'agent.example:9090';
  const signedHeaders = signRequest({ secret: SECRET, method: 'POST', path: '/v1/rollback', body, environment: ENV, host: HOST, hostHeader });
  assert.match(signedHeaders['x-slipway-signature'], /^[0-9a-f]{64}$/);
  assert.equal(signedHeaders['x-slipway-environment'], ENV);
  assert.equal(signedHeaders['x-slipway-host'], HOST);
  // As the agent receives it: with the Host header the client sent.
  const headers = { ...signedHeaders, host: hostHeader };
  const verify = (o: { method?: string; path?: string; headers?: Record<string, string>; body?: string; environment?: string; host?: string }) =>
    verifyRequest({ secret: SECRET, method: 'POST', path: '/v1/rollback', headers, body, nonces, environment: ENV, host: HOST, ...o });
  assert.deepEqual(verify({ body: '{"to":"v0"}' }), { ok: false, reason: 'bad-signature' });
  assert.deepEqual(verify({ path: '/v1/notify' }), { ok: false, reason: 'bad-signature' });
  assert.deepEqual(verify({ method: 'GET' }), { ok: false, reason: 'bad-signature' });
  assert.deepEqual(verify({ headers: { ...headers, host: 'other.example:9090' } }), { ok: false, reason: 'bad-signature' });
  // Claiming another environment or host in the headers breaks the signature; an agent of another environment or host refuses by name.
  assert.deepEqual(verify({ headers: { ...headers, 'x-slipway-environment': 'staging' }, environment: 'staging' }), { ok: false, reason: 'bad-signature' });
  assert.deepEqual(verify({ headers: { ...headers, 'x-slipway-host': 'web-2' }, host: 'web-2' }), { ok: false, reason: 'bad-signature' });
  assert.deepEqual(verify({ environment: 'staging' }), { ok: false, reason: 'wrong-environment' });
  assert.deepEqual(verify({ host: 'web-2' }), { ok: false, reason: 'wrong-host' });
  assert.deepEqual(verify({}), { ok: true });
  assert.deepEqual(verify({}), { ok: false, reason: 'replayed' });
  assert.deepEqual(verify({ method: 'GET', path: '/', headers: {}, body: '' }), { ok: false, reason: 'missing-signature' });
  assert.deepEqual(verify({ method: 'GET', path: '/', headers: { ...headers, 'x-slipway-signature': 'zz' }, body: '' }), { ok: false, reason: 'malformed' });
});

test('the nonce cache forgets nonces once their window has passed, and refuses when full', () => {
  const cache = createNonceCache({ windowMs: 1000, maxEntries: 2 });
  assert.equal(cache.remember('n1', 0), true);
  assert.equal(cache.remember('n1', 500), false);
  assert.equal(cache.remember('n2', 600), true);
  assert.equal(cache.remember('n3', 700), false, 'full of live nonces: refuse rather than forget one');
  assert.equal(cache.remember('n3', 2100), true, 'n1 expired and was dropped');
  assert.equal(cache.size, 2);
});

test('the secret comes from the named variable, must be long, and is redacted from messages', () => {
  expectThrows(() => readManagementSecret({ secretEnv: 'MY_SECRET', environment: 'production' }, {}), 'MANAGEMENT_SECRET_MISSING', { exitCode: 2 });
  expectThrows(() => readManagementSecret({ secretEnv: 'MY_SECRET', environment: 'production' }, { MY_SECRET: 'short' }), 'MANAGEMENT_SECRET_WEAK');
  assert.equal(readManagementSecret({ secretEnv: 'MY_SECRET', environment: 'production' }, { MY_SECRET: SECRET }), SECRET);
  assert.ok(!new SlipwayError('X', `oops ${SECRET}`).message.includes(SECRET));
});

test('a signed notify reaches the handler', async (t) => {
  const { port, calls } = await serve(t);
  const reply = await signed(port, 'POST', '/v1/notify', '{}');
  assert.equal(reply.status, 200);
  assert.deepEqual(reply.json, { checking: true });
  assert.equal(calls.notify, 1);
});

test('an unsigned notify is refused and nothing happens', async (t) => {
  const { port, calls, log } = await serve(t);
  const reply = await request(port, { method: 'POST', path: '/v1/notify', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(reply.status, 401);
  assert.equal(reply.json.reason, 'missing-signature');
  assert.equal(calls.notify, 0);
  assert.ok(log.some((line) => line.includes('refused POST /v1/notify')));
  assert.ok(!log.join('\n').includes(SECRET));
});

test('a notify signed with the wrong secret is refused and nothing happens', async (t) => {
  const { port, calls } = await serve(t);
  const reply = await signed(port, 'POST', '/v1/notify', '{}', { secret: 'another secret of good length' });
  assert.equal(reply.status, 401);
  assert.equal(reply.json.reason, 'bad-signature');
  assert.equal(calls.notify, 0);
});

test('a notify signed for another environment or host is refused and nothing happens', async (t) => {
  const { port, calls } = await serve(t);
  assert.equal((await signed(port, 'POST', '/v1/notify', '{}', { environment: 'staging' })).json.reason, 'wrong-environment');
  assert.equal((await signed(port, 'POST', '/v1/notify', '{}', { host: 'web-2' })).json.reason, 'wrong-host');
  const elsewhere = signRequest({ secret: SECRET, method: 'POST', path: '/v1/notify', body: '{}', environment: ENV, host: HOST, hostHeader: 'web-2.internal:9090' });
  const reply = await request(port, { method: 'POST', path: '/v1/notify', headers: { ...elsewhere, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(reply.status, 401);
  assert.equal(reply.json.reason, 'bad-signature', 'signed for another Host header');
  assert.equal(calls.notify, 0);
});

test('a notify with an expired timestamp is refused and nothing happens', async (t) => {
  const { port, calls } = await serve(t);
  const reply = await signed(port, 'POST', '/v1/notify', '{}', { timestamp: Math.floor(Date.now() / 1000) - 120 });
  assert.equal(reply.status, 401);
  assert.equal(reply.json.reason, 'stale-timestamp');
  assert.equal(calls.notify, 0);
});

test('a replayed notify is refused and the handler runs only once', async (t) => {
  const { port, calls } = await serve(t);
  const headers = { ...signFor(port, { method: 'POST', path: '/v1/notify', body: '{}' }), 'content-type': 'application/json' };
  const first = await request(port, { method: 'POST', path: '/v1/notify', headers, body: '{}' });
  const replay = await request(port, { method: 'POST', path: '/v1/notify', headers, body: '{}' });
  assert.equal(first.status, 200);
  assert.equal(replay.status, 401);
  assert.equal(replay.json.reason, 'replayed');
  assert.equal(calls.notify, 1);
});

test('an oversized body gets 413, bad JSON 400, and the server keeps answering', async (t) => {
  const { port, calls } = await serve(t);
  const big = JSON.stringify({ reason: 'x'.repeat(100 * 1024) });
  const oversized = await signed(port, 'POST', '/v1/rollback', big);
  assert.equal(oversized.status, 413);
  const huge = await request(port, { method: 'POST', path: '/v1/rollback', body: Buffer.alloc(3 * 1024 * 1024, 0x61), headers: { 'content-type': 'application/json' } }).catch((error) => ({ status: -1, error }));
  assert.ok(huge.status === 413 || huge.status === -1, `a huge body is refused (got ${huge.status})`);

  const badJson = await signed(port, 'POST', '/v1/rollback', '{"to": "v1",');
  assert.equal(badJson.status, 400);
  assert.equal(badJson.json.error.code, 'BAD_JSON');
  const notAnObject = await signed(port, 'POST', '/v1/rollback', '[1,2]');
  assert.equal(notAnObject.status, 400);
  const wrongType = await signed(port, 'POST', '/v1/rollback', '{"to": 5}');
  assert.equal(wrongType.status, 400);
  assert.deepEqual(calls.rollback, []);

  // Garbage that is not HTTP at all.
  await new Promise<void>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
    socket.resume();
  });

  const rollback = await signed(port, 'POST', '/v1/rollback', '{"to":"v1","reason":"test"}');
  assert.equal(rollback.status, 200);
  assert.deepEqual(calls.rollback, [{ to: 'v1', reason: 'test' }]);
  const refused = await signed(port, 'POST', '/v1/rollback', '{"to":"nowhere"}');
  assert.equal(refused.status, 400);
  assert.equal(refused.json.error.code, 'RELEASE_NOT_ON_HOST');
});

test('too many requests from one address get 429 until tokens refill', async (t) => {
  const { port, calls } = await serve(t, { rateLimit: { perSecond: 5, burst: 5 } });
  const replies = await Promise.all(Array.from({ length: 12 }, () => signed(port, 'GET', '/v1/status')));
  const limited = replies.filter((r) => r.status === 429);
  assert.ok(limited.length >= 5, `expected 429s, got ${replies.map((r) => r.status).join(',')}`);
  assert.equal(limited[0]!.headers['retry-after'], '1');
  assert.equal(calls.status, replies.filter((r) => r.status === 200).length, 'a limited request never reaches the handler');
  await sleep(1100);
  assert.equal((await signed(port, 'GET', '/v1/status')).status, 200);
});

test('routes: logs with a line count, history, unknown paths, the public dashboard page', async (t) => {
  const { port, calls } = await serve(t);
  const logs = await signed(port, 'GET', '/v1/logs?lines=5');
  assert.equal(logs.status, 200);
  assert.deepEqual(logs.json, { lines: ['line one', 'line two'] });
  assert.deepEqual(calls.logTail, [5]);
  // The query string is part of what is signed.
  const headers = signFor(port, { method: 'GET', path: '/v1/logs?lines=5' });
  assert.equal((await request(port, { method: 'GET', path: '/v1/logs?lines=500', headers })).status, 401);

  assert.equal((await signed(port, 'GET', '/v1/history')).status, 200);
  assert.equal((await signed(port, 'GET', '/v1/backups')).status, 404, 'no backups handler, no route');
  assert.equal((await signed(port, 'GET', '/v1/notify')).status, 405);
  assert.equal((await request(port, { method: 'GET', path: '/etc/passwd' })).status, 404);

  const page = await request(port, { method: 'GET', path: '/' });
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.match(page.text, /demo \/ production/);
  assert.ok(!page.text.includes(SECRET));
  const script = await request(port, { method: 'GET', path: '/dashboard.js' });
  assert.equal(script.status, 200);
  assert.match(script.text, /x-slipway-signature/);
});
