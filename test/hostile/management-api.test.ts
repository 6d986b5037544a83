/**
 * Hostile management API requests: verifyRequest with forged, stale, replayed and
 * malformed signatures, and the real HTTP server fed raw bytes over TCP (garbage,
 * smuggling attempts, huge bodies, method and path confusion, bad targets). Every
 * case: a 4xx (or the connection closed without an answer), no handler ever called,
 * the secret never echoed, and the server still answering a good request afterwards.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { createNonceCache, signRequest, verifyRequest, type VerifyInput } from '../../src/agent/management-auth.js';
import { startManagementServer, type ManagementHandlers } from '../../src/agent/management-server.js';
import { fcOptions } from './harness.js';

const SECRET = 'hostile-corpus-management-secret-0123456789';
const NOW_S = 1_750_000_000;
const NOW_MS = NOW_S * 1000;
/** whom the requests are for: the agent's environment and host name, and the Host header sent */
const ENV = 'production';
const HOST = 'web-1';
const HOST_HEADER = 'agent';

// --- verifyRequest

interface Signed {
  method: string;
  path: string;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function signed(o: Partial<{ method: string; path: string; body: string; timestamp: number; nonce: string; secret: string; environment: string; host: string; hostHeader: string }> = {}): Signed {
  const method = o.method ?? 'POST';
  const path = o.path ?? '/v1/rollback';
  const body = o.body ?? '{"to":"v1"}';
  const hostHeader = o.hostHeader ?? HOST_HEADER;
  const headers = signRequest({
    secret: o.secret ?? SECRET,
    method,
    path,
    body,
    timestamp: o.timestamp ?? NOW_S,
    nonce: o.nonce ?? 'n0nce-0123456789abcdef',
    environment: o.environment ?? ENV,
    host: o.host ?? HOST,
    hostHeader,
  });
  return { method, path, body, headers: { ...headers, host: hostHeader } };
}

function verify(request: Signed, overrides: Partial<VerifyInput> = {}) {
  return verifyRequest({ secret: SECRET, nonces: createNonceCache(), nowMs: NOW_MS, environment: ENV, host: HOST, ...request, ...overrides });
}

function withHeader(request: Signed, name: string, value: string | string[] | undefined): Signed {
  return { ...request, headers: { ...request.headers, [name]: value } };
}

const SIG = 'x-slipway-signature';
const TS = 'x-slipway-timestamp';
const NONCE = 'x-slipway-nonce';
const ENV_HEADER = 'x-slipway-environment';
const HOST_NAME = 'x-slipway-host';

const VERIFY_CASES: { name: string; request: () => Signed; overrides?: Partial<VerifyInput>; reason: string }[] = [
  { name: 'no signature headers', request: () => ({ ...signed(), headers: {} }), reason: 'missing-signature' },
  { name: 'the signature header sent twice (an array)', request: () => withHeader(signed(), SIG, [signed().headers[SIG] as string, signed().headers[SIG] as string]), reason: 'missing-signature' },
  { name: 'two signatures joined by a proxy', request: () => withHeader(signed(), SIG, `${signed().headers[SIG]}, ${signed().headers[SIG]}`), reason: 'malformed' },
  { name: 'a timestamp with letters', request: () => withHeader(signed(), TS, '17500000OO'), reason: 'malformed' },
  { name: 'a 13-digit timestamp', request: () => withHeader(signed(), TS, '1750000000000'), reason: 'malformed' },
  { name: 'a negative timestamp', request: () => withHeader(signed(), TS, '-1'), reason: 'malformed' },
  { name: 'a timestamp with a fraction', request: () => withHeader(signed(), TS, `${NOW_S}.5`), reason: 'malformed' },
  { name: 'a timestamp with a leading space', request: () => withHeader(signed(), TS, ` ${NOW_S}`), reason: 'malformed' },
  { name: 'a timestamp carrying an injected header', request: () => withHeader(signed(), TS, `${NOW_S}\r\nx-evil: 1`), reason: 'malformed' },
  { name: 'a 15-character nonce', request: () => withHeader(signed(), NONCE, 'a'.repeat(15)), reason: 'malformed' },
  { name: 'a 129-character nonce', request: () => withHeader(signed(), NONCE, 'a'.repeat(129)), reason: 'malformed' },
  { name: 'a nonce with a slash', request: () => withHeader(signed(), NONCE, 'abcdefgh/ijklmnop'), reason: 'malformed' },
  { name: 'a nonce with non-ASCII letters', request: () => withHeader(signed(), NONCE, 'abcdefghijklmnoé'), reason: 'malformed' },
  { name: 'an upper-case hex signature', request: () => withHeader(signed(), SIG, (signed().headers[SIG] as string).toUpperCase()), reason: 'malformed' },
  { name: 'a 63-character signature', request: () => withHeader(signed(), SIG, (signed().headers[SIG] as string).slice(1)), reason: 'malformed' },
  { name: 'a base64 signature', request: () => withHeader(signed(), SIG, Buffer.from(signed().headers[SIG] as string, 'hex').toString('base64')), reason: 'malformed' },
  { name: 'an empty signature', request: () => withHeader(signed(), SIG, ''), reason: 'malformed' },
  { name: 'a timestamp 61 s in the past', request: () => signed({ timestamp: NOW_S - 61 }), reason: 'stale-timestamp' },
  { name: 'a timestamp 61 s in the future', request: () => signed({ timestamp: NOW_S + 61 }), reason: 'stale-timestamp' },
  { name: 'timestamp 0', request: () => signed({ timestamp: 0 }), reason: 'stale-timestamp' },
  { name: 'the largest timestamp the format allows', request: () => signed({ timestamp: 999_999_999_999 }), reason: 'stale-timestamp' },
  { name: 'signed with another secret', request: () => signed({ secret: `${SECRET}x` }), reason: 'bad-signature' },
  { name: 'signed for another path', request: () => ({ ...signed({ path: '/v1/status' }), path: '/v1/rollback' }), reason: 'bad-signature' },
  { name: 'signed for another method', request: () => ({ ...signed({ method: 'GET' }), method: 'POST' }), reason: 'bad-signature' },
  { name: 'a changed body', request: () => ({ ...signed(), body: '{"to":"v0"}' }), reason: 'bad-signature' },
  { name: 'a query string added', request: () => ({ ...signed({ path: '/v1/logs' }), path: '/v1/logs?lines=1000' }), reason: 'bad-signature' },
  { name: 'a signature for an empty body used with a body', request: () => ({ ...signed({ body: '' }), body: '{}' }), reason: 'bad-signature' },
  { name: 'a nonce swapped after signing', request: () => withHeader(signed(), NONCE, 'n0nce-0123456789abcdeF'), reason: 'bad-signature' },
  { name: 'a timestamp moved by one second after signing', request: () => withHeader(signed(), TS, String(NOW_S + 1)), reason: 'bad-signature' },
  // meant for another agent sharing the secret
  { name: 'signed for another environment', request: () => signed({ environment: 'staging' }), reason: 'wrong-environment' },
  { name: 'signed for another host of the environment', request: () => signed({ host: 'web-2' }), reason: 'wrong-host' },
  { name: "signed for staging, its environment header changed to this agent's", request: () => withHeader(signed({ environment: 'staging' }), ENV_HEADER, ENV), reason: 'bad-signature' },
  { name: "signed for web-2, its host header changed to this agent's", request: () => withHeader(signed({ host: 'web-2' }), HOST_NAME, HOST), reason: 'bad-signature' },
  { name: 'sent with another Host header than it was signed with', request: () => withHeader(signed({ hostHeader: 'other-agent:9090' }), 'host', HOST_HEADER), reason: 'bad-signature' },
  { name: 'no Host header, signed with one', request: () => withHeader(signed(), 'host', undefined), reason: 'bad-signature' },
  { name: 'no environment header (signed the old way)', request: () => withHeader(signed(), ENV_HEADER, undefined), reason: 'missing-signature' },
  { name: 'no host name header', request: () => withHeader(signed(), HOST_NAME, undefined), reason: 'missing-signature' },
  { name: 'an environment header with a newline smuggling another field', request: () => withHeader(signed({ environment: `${ENV}\n${HOST}` }), ENV_HEADER, ENV), reason: 'bad-signature' },
];

for (const c of VERIFY_CASES) {
  test(`management verify: ${c.name} → ${c.reason}`, () => {
    assert.deepEqual(verify(c.request(), c.overrides), { ok: false, reason: c.reason });
  });
}

test('management verify: a replay is refused, and a full nonce cache refuses new nonces rather than forget old ones', () => {
  const nonces = createNonceCache({ maxEntries: 2 });
  const first = signed({ nonce: 'replay-0123456789ab' });
  assert.deepEqual(verify(first, { nonces }), { ok: true });
  assert.deepEqual(verify(first, { nonces }), { ok: false, reason: 'replayed' });
  assert.deepEqual(verify(signed({ nonce: 'second-0123456789ab' }), { nonces }), { ok: true });
  assert.deepEqual(verify(signed({ nonce: 'third-0123456789abc' }), { nonces }), { ok: false, reason: 'replayed' });
  // a forged request never uses up a place in the cache
  assert.deepEqual(verify(signed({ nonce: 'forged-0123456789ab', secret: 'wrong secret, long enough' }), { nonces: createNonceCache({ maxEntries: 1 }) }), { ok: false, reason: 'bad-signature' });
});

test('management verify property: any single changed byte of path, body, timestamp, nonce or signature is refused', () => {
  const part = fc.constantFrom('path' as const, 'body' as const, TS, NONCE, SIG);
  fc.assert(
    fc.property(
      fc.constantFrom('/v1/rollback', '/v1/logs?lines=5', '/v1/notify'),
      fc.string({ maxLength: 60 }),
      part,
      fc.nat(),
      fc.integer({ min: 1, max: 0x5e }),
      (path, body, which, at, delta) => {
        const request = signed({ path, body });
        const original = which === 'path' ? request.path : which === 'body' ? request.body : (request.headers[which] as string);
        if (original.length === 0) return; // an empty body has no byte to change
        const index = at % original.length;
        const code = original.charCodeAt(index);
        let next = 0x20 + ((code - 0x20 + delta) % 0x5f); // printable ASCII, different from the original
        if (next === code) next = next === 0x7e ? 0x21 : next + 1;
        const mutated = original.slice(0, index) + String.fromCharCode(next) + original.slice(index + 1);
        assert.notEqual(mutated, original);
        const forged = which === 'path' ? { ...request, path: mutated } : which === 'body' ? { ...request, body: mutated } : withHeader(request, which, mutated);
        const verdict = verify(forged);
        assert.equal(verdict.ok, false, `${which} ${JSON.stringify(original)} → ${JSON.stringify(mutated)} was accepted`);
        assert.deepEqual(verify(request), { ok: true }, 'the unchanged request is accepted');
      },
    ),
    fcOptions(500),
  );
});

// --- the HTTP server, fed raw bytes

function countingHandlers() {
  const calls: string[] = [];
  const handlers: ManagementHandlers = {
    notify: async () => (calls.push('notify'), { checking: true }),
    status: async () => (calls.push('status'), { environment: 'production' }),
    rollback: async (body) => (calls.push(`rollback ${JSON.stringify(body)}`), { ok: true }),
    history: async () => (calls.push('history'), []),
    backups: async () => (calls.push('backups'), []),
    logTail: async (lines) => (calls.push(`logs ${lines}`), ['a line']),
  };
  return { calls, handlers };
}

async function startServer(t: TestContext, rateLimit = { perSecond: 10_000, burst: 10_000 }) {
  const { calls, handlers } = countingHandlers();
  const log: string[] = [];
  const server = await startManagementServer({ bind: '127.0.0.1', port: 0, secret: SECRET, environment: ENV, host: HOST, handlers, log: (line) => log.push(line), rateLimit });
  t.after(() => server.close());
  return { port: server.port, calls, log };
}

interface RawReply {
  /** the status code, or 0 when the connection closed without an answer */
  status: number;
  text: string;
}

/** Sends `bytes` as they are and reads the first answer (or the connection closing). */
function rawRequest(port: number, bytes: Buffer | string, options: { closeAfterMs?: number } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : 0, text });
    };
    const timer = setTimeout(() => (done ? undefined : (done = true, socket.destroy(), reject(new Error(`no answer and no close within 10 s for ${JSON.stringify(String(bytes).slice(0, 80))}`)))), 10_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      let text = Buffer.concat(chunks).toString('latin1');
      let headerEnd = text.indexOf('\r\n\r\n');
      // An interim answer (100 Continue to an Expect header) is not the answer.
      while (headerEnd !== -1 && /^HTTP\/1\.[01] 1\d\d/.test(text)) {
        const rest = Buffer.from(text.slice(headerEnd + 4), 'latin1');
        chunks.length = 0;
        chunks.push(rest);
        text = rest.toString('latin1');
        headerEnd = text.indexOf('\r\n\r\n');
      }
      if (headerEnd === -1) return;
      const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, headerEnd));
      if (!length || text.length >= headerEnd + 4 + Number(length[1])) finish();
    });
    socket.on('error', finish); // a reset after the server refused the rest of a body
    socket.on('close', finish);
    socket.write(bytes, () => {
      if (options.closeAfterMs !== undefined) setTimeout(() => socket.end(), options.closeAfterMs);
    });
  });
}

function signedRaw(o: { method: string; path: string; body?: string; timestamp?: number; nonce?: string; secret?: string; extraHeaders?: string }): string {
  const body = o.body ?? '';
  const headers = signRequest({ secret: o.secret ?? SECRET, method: o.method, path: o.path, body, timestamp: o.timestamp, nonce: o.nonce, environment: ENV, host: HOST, hostHeader: HOST_HEADER });
  const lines = [`${o.method} ${o.path} HTTP/1.1`, 'Host: agent', `Content-Length: ${Buffer.byteLength(body)}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n${o.extraHeaders ?? ''}\r\n${body}`;
}

const unsigned = (method: string, path: string, rest = 'Host: agent\r\n\r\n') => `${method} ${path} HTTP/1.1\r\n${rest}`;

interface ServerCase {
  name: string;
  bytes: () => string | Buffer;
  /** the status expected; 0 = the connection closes without an answer */
  status: number | number[];
}

const SERVER_CASES: ServerCase[] = [
  // signatures
  { name: 'an unsigned notify', bytes: () => unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: 0\r\n\r\n'), status: 401 },
  { name: 'a notify signed with another secret', bytes: () => signedRaw({ method: 'POST', path: '/v1/notify', secret: 'not the management secret at all' }), status: 401 },
  { name: 'a notify signed an hour ago', bytes: () => signedRaw({ method: 'POST', path: '/v1/notify', timestamp: Math.floor(Date.now() / 1000) - 3600 }), status: 401 },
  { name: 'a notify signed for next year', bytes: () => signedRaw({ method: 'POST', path: '/v1/notify', timestamp: Math.floor(Date.now() / 1000) + 365 * 86400 }), status: 401 },
  { name: 'a signed rollback whose body was changed in flight', bytes: () => signedRaw({ method: 'POST', path: '/v1/rollback', body: '{"to":"v1"}' }).replace('{"to":"v1"}', '{"to":"v0"}'), status: 401 },
  { name: 'a signed status request sent to notify', bytes: () => signedRaw({ method: 'GET', path: '/v1/status' }).replace('GET /v1/status', 'POST /v1/notify'), status: 401 },
  { name: 'a signed request with its signature sent twice', bytes: () => { const r = signedRaw({ method: 'POST', path: '/v1/notify' }); const sig = /x-slipway-signature: (\w+)/.exec(r)![1]; return r.replace('\r\n\r\n', `\r\nx-slipway-signature: ${sig}\r\n\r\n`); }, status: 401 },
  { name: 'an absolute-form target to another host, unsigned', bytes: () => unsigned('POST', 'http://evil.example/v1/notify', 'Host: evil.example\r\nContent-Length: 0\r\n\r\n'), status: 401 },
  { name: 'a dot-dot path that normalizes onto notify, unsigned', bytes: () => unsigned('POST', '/x/../v1/notify', 'Host: agent\r\nContent-Length: 0\r\n\r\n'), status: 401 },
  // bodies
  { name: 'a signed notify with bad JSON', bytes: () => signedRaw({ method: 'POST', path: '/v1/notify', body: '{"to":' }), status: 400 },
  { name: 'a signed rollback with a JSON list', bytes: () => signedRaw({ method: 'POST', path: '/v1/rollback', body: '["v1"]' }), status: 400 },
  { name: 'a signed rollback with JSON null', bytes: () => signedRaw({ method: 'POST', path: '/v1/rollback', body: 'null' }), status: 400 },
  { name: 'a signed rollback whose `to` is a number', bytes: () => signedRaw({ method: 'POST', path: '/v1/rollback', body: '{"to":5}' }), status: 400 },
  { name: 'a signed rollback whose `reason` is an object', bytes: () => signedRaw({ method: 'POST', path: '/v1/rollback', body: '{"reason":{"toString":"x"}}' }), status: 400 },
  { name: 'a body over 64 KiB', bytes: () => signedRaw({ method: 'POST', path: '/v1/notify', body: `{"pad":"${'x'.repeat(70_000)}"}` }), status: 413 },
  { name: 'a declared 2 MB body that is never sent', bytes: () => unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: 2000000\r\n\r\n{'), status: 413 },
  { name: 'a 2 MB chunked body', bytes: () => `${unsigned('POST', '/v1/notify', 'Host: agent\r\nTransfer-Encoding: chunked\r\n\r\n')}${`${(64 * 1024).toString(16)}\r\n${'x'.repeat(64 * 1024)}\r\n`.repeat(32)}0\r\n\r\n`, status: [413, 0] },
  { name: 'a JSON bomb of nested lists (under the size limit)', bytes: () => signedRaw({ method: 'POST', path: '/v1/rollback', body: `${'['.repeat(30_000)}${']'.repeat(30_000)}` }), status: 400 },
  // methods and paths
  { name: 'GET on notify', bytes: () => unsigned('GET', '/v1/notify'), status: 405 },
  { name: 'POST on status', bytes: () => unsigned('POST', '/v1/status', 'Host: agent\r\nContent-Length: 0\r\n\r\n'), status: 405 },
  { name: 'DELETE on rollback', bytes: () => unsigned('DELETE', '/v1/rollback'), status: 405 },
  { name: 'HEAD on status', bytes: () => unsigned('HEAD', '/v1/status'), status: 405 },
  { name: 'PUT on the dashboard', bytes: () => unsigned('PUT', '/', 'Host: agent\r\nContent-Length: 0\r\n\r\n'), status: 404 },
  { name: 'a trailing slash', bytes: () => unsigned('POST', '/v1/notify/', 'Host: agent\r\nContent-Length: 0\r\n\r\n'), status: 404 },
  { name: 'upper-case path', bytes: () => unsigned('POST', '/V1/NOTIFY', 'Host: agent\r\nContent-Length: 0\r\n\r\n'), status: 404 },
  { name: 'percent-encoded dot-dots', bytes: () => unsigned('GET', '/%2e%2e/%2e%2e/etc/passwd'), status: 404 },
  { name: 'an invalid percent escape', bytes: () => unsigned('GET', '/v1/%zz'), status: 404 },
  { name: 'OPTIONS *', bytes: () => unsigned('OPTIONS', '*'), status: 404 },
  { name: 'an absolute-form target with an unclosed IPv6 bracket', bytes: () => unsigned('GET', 'http://['), status: 400 },
  { name: 'a target of two slashes', bytes: () => unsigned('GET', '//'), status: 400 },
  { name: 'a scheme-relative target that URL would read as the dashboard', bytes: () => unsigned('GET', '//&'), status: 400 },
  { name: 'a scheme-relative target that URL would read as status', bytes: () => unsigned('GET', '//agent/v1/status'), status: 400 },
  { name: 'a target with a user and an unclosed bracket', bytes: () => unsigned('GET', 'http://a:b@[::1/v1/status'), status: 400 },
  // the HTTP layer itself
  { name: 'a lower-case method', bytes: () => unsigned('post', '/v1/notify'), status: 400 },
  { name: 'an unknown method', bytes: () => unsigned('PWN', '/v1/notify'), status: 400 },
  { name: 'CONNECT', bytes: () => unsigned('CONNECT', 'evil.example:443'), status: [0, 400] },
  { name: 'a content length that is not a number', bytes: () => unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: abc\r\n\r\n'), status: 400 },
  { name: 'a negative content length', bytes: () => unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: -1\r\n\r\n'), status: 400 },
  { name: 'a 20-digit content length', bytes: () => unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: 99999999999999999999\r\n\r\n'), status: 400 },
  { name: 'two different content lengths', bytes: () => unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'), status: 400 },
  { name: 'content length and chunked together (request smuggling)', bytes: () => unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), status: 400 },
  { name: 'a NUL byte in a header value', bytes: () => unsigned('GET', '/v1/status', 'Host: agent\r\nx-slipway-nonce: a\0b\r\n\r\n'), status: 400 },
  { name: 'a folded header line', bytes: () => unsigned('GET', '/v1/status', 'Host: agent\r\nx-slipway-nonce: abc\r\n def\r\n\r\n'), status: 400 },
  { name: 'bare LF line endings', bytes: () => 'GET /v1/status HTTP/1.1\nHost: agent\n\n', status: 400 },
  { name: '5,000 headers', bytes: () => unsigned('GET', '/v1/status', `${Array.from({ length: 5000 }, (_, i) => `x-h${i}: v`).join('\r\n')}\r\n\r\n`), status: [400, 431] },
  { name: 'a 100 KB target', bytes: () => unsigned('GET', `/${'a'.repeat(100_000)}`), status: [400, 414, 431] },
  { name: 'a TLS client hello', bytes: () => Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...Array(64).fill(7)]), status: [400, 0] },
  { name: 'the HTTP/2 preface', bytes: () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: [400, 0] },
  { name: 'random binary', bytes: () => Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 97 + 5) & 0xff)), status: [400, 0] },
];

test('management server: every hostile request gets a 4xx (or a closed connection), no handler runs, and good requests still work between them', async (t) => {
  const { port, calls, log } = await startServer(t);
  const good = async () => {
    const before = calls.length;
    const reply = await rawRequest(port, signedRaw({ method: 'GET', path: '/v1/status' }));
    assert.equal(reply.status, 200, reply.text.slice(0, 300));
    assert.deepEqual(calls.slice(before), ['status']);
  };
  await good();
  for (const c of SERVER_CASES) {
    await t.test(c.name, async () => {
      const before = calls.length;
      const reply = await rawRequest(port, c.bytes(), { closeAfterMs: 200 });
      const allowed = Array.isArray(c.status) ? c.status : [c.status];
      assert.ok(allowed.includes(reply.status), `status ${reply.status}, expected ${allowed.join(' or ')}: ${reply.text.slice(0, 300)}`);
      assert.deepEqual(calls.slice(before), [], 'no handler ran');
      assert.ok(!reply.text.includes(SECRET), 'the secret is not echoed');
      await good();
    });
  }
  assert.ok(log.every((line) => !line.includes(SECRET)), 'the secret is not logged');
  assert.ok(!log.some((line) => /internal error/.test(line)), `no request reached the internal-error path: ${log.filter((line) => /internal error/.test(line)).join('; ')}`);
});

test('management server: a replayed signed notify is refused the second time, and the handler ran once', async (t) => {
  const { port, calls } = await startServer(t);
  const request = signedRaw({ method: 'POST', path: '/v1/notify' });
  assert.equal((await rawRequest(port, request)).status, 200);
  const replay = await rawRequest(port, request);
  assert.equal(replay.status, 401);
  assert.match(replay.text, /"reason":"replayed"/);
  assert.deepEqual(calls, ['notify']);
});

test('management server: a flood of unsigned requests from one address is cut to 429 and reaches no handler', async (t) => {
  const { port, calls } = await startServer(t, { perSecond: 1, burst: 5 });
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await rawRequest(port, unsigned('POST', '/v1/notify', 'Host: agent\r\nContent-Length: 0\r\n\r\n'))).status);
  assert.ok(statuses.includes(429), statuses.join(' '));
  assert.ok(statuses.every((status) => status === 401 || status === 429), statuses.join(' '));
  assert.deepEqual(calls, []);
});

test('management server property: a signed rollback with any single byte changed in its method, target, signature headers or body is refused and reaches no handler', async (t) => {
  const { port, calls } = await startServer(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('method', 'target', TS, NONCE, SIG, 'body'), fc.nat(), fc.integer({ min: 1, max: 255 }), async (part, at, xor) => {
      run += 1;
      const body = '{"to":"v1","reason":"hostile corpus"}';
      const nonce = `prop-${run}-${'0'.repeat(16)}`;
      const headers = signRequest({ secret: SECRET, method: 'POST', path: '/v1/rollback', body, nonce, environment: ENV, host: HOST, hostHeader: HOST_HEADER });
      const fields: Record<string, string> = { method: 'POST', target: '/v1/rollback', [TS]: headers[TS], [NONCE]: headers[NONCE], [SIG]: headers[SIG], body };
      const original = fields[part];
      const index = at % original.length;
      fields[part] = original.slice(0, index) + String.fromCharCode(original.charCodeAt(index) ^ xor) + original.slice(index + 1);
      const raw = Buffer.from(
        `${fields.method} ${fields.target} HTTP/1.1\r\nHost: agent\r\nContent-Length: ${body.length}\r\n${TS}: ${fields[TS]}\r\n${NONCE}: ${fields[NONCE]}\r\n${SIG}: ${fields[SIG]}\r\n${ENV_HEADER}: ${ENV}\r\n${HOST_NAME}: ${HOST}\r\n\r\n${fields.body}`,
        'latin1',
      );
      const reply = await rawRequest(port, raw, { closeAfterMs: 100 });
      assert.deepEqual(calls, [], `${part} ${JSON.stringify(original)} → ${JSON.stringify(fields[part])} reached the handler`);
      assert.ok(reply.status === 0 || (reply.status >= 400 && reply.status < 500), `status ${reply.status}`);
    }),
    fcOptions(150),
  );
  const good = await rawRequest(port, signedRaw({ method: 'POST', path: '/v1/rollback', body: '{"to":"v1"}' }));
  assert.equal(good.status, 200, 'the unchanged request is accepted');
  assert.equal(calls.length, 1);
});

test('management server property: any generated request line, headers and body → 4xx or a closed connection, no handler runs, and the server still answers', async (t) => {
  const { port, calls } = await startServer(t);
  const token = fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'get', 'X', ''), fc.string({ maxLength: 6 }));
  const target = fc.oneof(
    fc.constantFrom('/v1/notify', '/v1/status', '/v1/rollback', '/v1/logs?lines=-1', '/v1/logs?lines=1e309', '/v1/backups', '/', '*', '//', 'http://[', '/v1/../v1/notify', '/%00', '/\u00e9'),
    fc.string({ maxLength: 20 }).map((s) => `/${s}`),
  );
  const headerValue = fc.oneof(fc.constantFrom('', '0', '-1', 'chunked', 'a'.repeat(64), '1'.repeat(13), ' ', '\u00ff'), fc.string({ maxLength: 30 }));
  const headerName = fc.constantFrom('host', 'content-length', 'transfer-encoding', 'x-slipway-signature', 'x-slipway-timestamp', 'x-slipway-nonce', 'expect', 'connection', 'x-forwarded-for');
  const request = fc.record({
    method: token,
    target,
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/1.1 x', ''),
    headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
    body: fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }), fc.constant('{"to":"v1"}')),
    eol: fc.constantFrom('\r\n', '\n', '\r'),
  });
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const before = calls.length;
      const head = [`${r.method} ${r.target} ${r.version}`, ...r.headers.map(([name, value]) => `${name}: ${value}`)].join(r.eol);
      const reply = await rawRequest(port, `${head}${r.eol}${r.eol}${r.body}`, { closeAfterMs: 100 });
      assert.deepEqual(calls.slice(before), [], `a handler ran for ${JSON.stringify(head)}`);
      if (reply.status !== 0) {
        // The public dashboard answers GET / and its assets; everything else is refused.
        const isDashboard = reply.status === 200 && /^(GET|HEAD) \/(index\.html|dashboard\.(js|css))?(\?|#|$| )/.test(`${r.method} ${r.target}`);
        assert.ok(isDashboard || (reply.status >= 400 && reply.status < 500), `status ${reply.status} for ${JSON.stringify(head)}`);
      }
    }),
    fcOptions(150),
  );
  const after = await rawRequest(port, signedRaw({ method: 'GET', path: '/v1/status' }));
  assert.equal(after.status, 200);
});
