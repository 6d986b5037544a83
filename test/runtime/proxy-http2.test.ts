// HTTP/2 on the proxy's HTTPS port, with real sockets and Node's own HTTP/2 client: ALPN picks
// h2 or http/1.1 on the same port, the app (HTTP/1.1 always) gets the right Host and
// X-Forwarded-* headers, bodies stream both ways, a switch under HTTP/2 load loses nothing, the
// maintenance gate holds and refuses HTTP/2 streams, the proxy's own answers (502, 503) work on
// a stream, and close() ends with HTTP/2 sessions open, letting a stream in flight finish.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import { describe, it, type TestContext } from 'node:test';
import { createProxy, type ReverseProxy } from '../../src/runtime/proxy.js';
import { SecureContexts } from '../../src/runtime/proxy-tls.js';
import { freePort } from '../helpers/free-port.js';
import { hasOpenssl, selfSigned, type MadeCertificate } from '../helpers/self-signed.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait-until.js';

const NAME = 'app.test';

interface App {
  port: number;
  /** answers every /slow request waiting now */
  releaseSlow: () => void;
}

/**
 * An app named `name`: / answers what it got (headers, body length and hash, streaming an
 * "ack" as soon as the first body bytes arrive on /ack-first); /slow waits for releaseSlow;
 * /empty answers 204; its answers carry headers HTTP/2 may not relay.
 */
async function startApp(t: TestContext, name: string): Promise<App> {
  const slow = new Set<() => void>();
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      req.resume();
      slow.add(() => res.end(`${name} slow`));
      return;
    }
    if (req.url === '/empty') {
      req.resume();
      res.writeHead(204, { 'x-name': name }).end();
      return;
    }
    const hash = crypto.createHash('sha256');
    let length = 0;
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('connection', 'keep-alive, x-internal');
    res.setHeader('keep-alive', 'timeout=5');
    res.setHeader('x-internal', 'hop-by-hop');
    res.setHeader('content-type', 'application/json');
    req.on('data', (chunk: Buffer) => {
      // (no content-length: the answer goes out chunked, with transfer-encoding, and starts now)
      if (length === 0 && req.url === '/ack-first') res.write(' ');
      hash.update(chunk);
      length += chunk.length;
    });
    req.on('end', () => {
      res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, length, sha256: hash.digest('hex') }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return { port: (server.address() as net.AddressInfo).port, releaseSlow: () => [...slow].forEach((answer) => answer()) };
}

interface Setup {
  proxy: ReverseProxy;
  contexts: SecureContexts;
  cert: MadeCertificate;
  app: App;
  dir: string;
}

async function startProxy(t: TestContext, o: { trustedProxies?: string[]; target?: boolean } = {}): Promise<Setup> {
  const dir = tempDir(t);
  const cert = selfSigned({ dir, label: 'h2', names: [NAME] });
  const contexts = new SecureContexts();
  contexts.set(NAME, cert);
  const proxy = await createProxy({ host: '127.0.0.1', port: 0, ...(o.trustedProxies ? { trustedProxies: o.trustedProxies } : {}), tls: { port: 0, httpPort: 0, redirectHttp: true, contexts } });
  t.after(() => proxy.close());
  const app = await startApp(t, 'v1');
  if (o.target !== false) await proxy.switchTo(app.port);
  return { proxy, contexts, cert, app, dir };
}

async function connect(t: TestContext, proxy: ReverseProxy, ca: string | string[], o: { localAddress?: string } = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${proxy.httpsPort}`, { ca, servername: NAME, ...o });
  t.after(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  session.on('error', () => undefined); // what a test checks shows up on its streams
  return session;
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** One request on an HTTP/2 session; `chunks` are sent one by one, each after `beforeChunk` resolves. */
function h2Request(session: http2.ClientHttp2Session, o: { path?: string; method?: string; headers?: http2.OutgoingHttpHeaders; chunks?: string[]; beforeChunk?: (i: number, answeredSoFar: () => string) => Promise<void> }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks = o.chunks ?? [];
    const stream = session.request({ ':method': o.method ?? 'GET', ':path': o.path ?? '/', ':authority': NAME, ...o.headers }, { endStream: chunks.length === 0 });
    let headers: http2.IncomingHttpHeaders = {};
    let body = '';
    stream.on('response', (h) => (headers = h));
    stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => (headers[':status'] === undefined ? reject(new Error('the stream ended without an answer')) : resolve({ status: Number(headers[':status']), headers, body })));
    stream.on('close', () => reject(new Error(`the stream closed before its end (code ${stream.rstCode})`)));
    stream.on('error', reject);
    void (async () => {
      for (const [i, chunk] of chunks.entries()) {
        await o.beforeChunk?.(i, () => body);
        stream.write(chunk);
      }
      if (chunks.length > 0) stream.end();
    })().catch(reject);
  });
}

/** One request from an HTTP/1.1-only client (it offers http/1.1 by ALPN) on the HTTPS port, with the protocol ALPN chose. */
function h1Request(proxy: ReverseProxy, ca: string): Promise<Answer & { alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions & tls.ConnectionOptions = { host: '127.0.0.1', port: proxy.httpsPort!, path: '/', servername: NAME, ca, ALPNProtocols: ['http/1.1'], headers: { host: NAME }, agent: false };
    const req = https.request(options, (res) => {
      const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, alpn }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP/2 on the HTTPS port', { skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)' }, () => {
  it('ALPN gives h2 to an HTTP/2 client and http/1.1 to an HTTPS one on the same port; the app gets Host and X-Forwarded-* alike', async (t) => {
    // Node warns (once a process) when told to send what HTTP/2 has not: a status message, a Connection header.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const { proxy, cert } = await startProxy(t);
    const session = await connect(t, proxy, cert.cert);
    assert.equal(session.alpnProtocol, 'h2');
    const h2 = await h2Request(session, { path: '/notes?page=2', headers: { cookie: ['a=1', 'b=2'], 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http' } });
    assert.equal(h2.status, 200);
    const seen = JSON.parse(h2.body);
    assert.equal(seen.url, '/notes?page=2');
    assert.equal(seen.headers.host, NAME, 'the app gets :authority as its Host');
    assert.equal(seen.headers['x-forwarded-host'], NAME);
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'what the client claimed is replaced');
    assert.equal(seen.headers.cookie, 'a=1; b=2', 'cookie pieces are joined into one header');
    assert.deepEqual(Object.keys(seen.headers).filter((name) => name.startsWith(':')), [], 'no pseudo-header reaches the app');
    // The app's connection-specific headers stop at the proxy; repeated ones stay repeated.
    assert.deepEqual(h2.headers['set-cookie'], ['a=1', 'b=2']);
    for (const name of ['connection', 'keep-alive', 'x-internal', 'transfer-encoding']) assert.equal(h2.headers[name], undefined, name);

    const h1 = await h1Request(proxy, cert.cert);
    assert.equal(h1.alpn, 'http/1.1');
    const seenH1 = JSON.parse(h1.body);
    assert.equal(seenH1.headers.host, NAME);
    assert.equal(seenH1.headers['x-forwarded-proto'], 'https');
    assert.equal(seenH1.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(h1.headers['x-internal'], undefined);

    const empty = await h2Request(session, { path: '/empty' });
    assert.deepEqual([empty.status, empty.headers['x-name'], empty.body], [204, 'v1', '']);
    const head = await h2Request(session, { method: 'HEAD' });
    assert.deepEqual([head.status, head.body], [200, '']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings, []);
  });

  it('HTTP/1.1 on the HTTPS port keeps the rules of an HTTPS server: a request without Host gets 400', async (t) => {
    const { proxy, cert } = await startProxy(t);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, ca: cert.cert, servername: NAME, ALPNProtocols: ['http/1.1'] }, () => socket.write('GET / HTTP/1.1\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1.1 400 /);
  });

  it('a request body streams through to the app, and its answer back, while the client still sends', async (t) => {
    const { proxy, cert } = await startProxy(t);
    const session = await connect(t, proxy, cert.cert);
    const chunks = ['first part;', 'x'.repeat(100_000), 'last part'];
    const answer = await h2Request(session, {
      method: 'POST',
      path: '/ack-first',
      chunks,
      // The rest is sent only once the app's answer to the first part came back through the proxy.
      beforeChunk: (i, answeredSoFar) => (i === 0 ? Promise.resolve() : waitUntil('the app to acknowledge the first part', () => answeredSoFar().length > 0, 10_000)),
    });
    const seen = JSON.parse(answer.body);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.length, chunks.join('').length);
    assert.equal(seen.sha256, crypto.createHash('sha256').update(chunks.join('')).digest('hex'));
  });

  it('a switch to a new target under HTTP/2 load: concurrent streams on one session, not one fails', async (t) => {
    const { proxy, cert } = await startProxy(t);
    const v2 = await startApp(t, 'v2');
    const session = await connect(t, proxy, cert.cert);
    let stop = false;
    const seen: string[] = [];
    const failures: string[] = [];
    const worker = async (method: string) => {
      while (!stop) {
        try {
          const answer = await h2Request(session, method === 'POST' ? { method, chunks: ['a=1', '&b=2'] } : { method });
          if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
          else seen.push(JSON.parse(answer.body).name as string);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    let mostAtOnce = 0;
    const sampler = setInterval(() => (mostAtOnce = Math.max(mostAtOnce, proxy.stats().inFlight)), 1);
    t.after(() => clearInterval(sampler));
    const workers = [...Array.from({ length: 6 }, () => worker('GET')), worker('POST'), worker('POST')];
    await waitUntil('v1 to answer some requests', () => seen.length >= 40, 20_000);
    const switched = await proxy.switchTo(v2.port);
    assert.equal(switched.drained, true);
    const after = seen.length;
    await waitUntil('v2 to answer some requests', () => seen.length >= after + 40, 20_000);
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok(seen.includes('v1'));
    assert.equal(seen.at(-1), 'v2');
    assert.equal(proxy.stats().inFlight, 0);
    assert.ok(mostAtOnce > 1, `streams were in flight together on the one session (at most ${mostAtOnce})`);
  });

  it('the maintenance gate holds HTTP/2 streams until it opens, and refuses them with 503 and Retry-After', async (t) => {
    const { proxy, cert } = await startProxy(t);
    const session = await connect(t, proxy, cert.cert);
    proxy.setMaintenance({ mode: 'hold', holdMs: 30_000 });
    let answered = false;
    const held = h2Request(session, { method: 'POST', chunks: ['note=1'] }).then((a) => ((answered = true), a));
    await waitUntil('the request to be held', () => proxy.stats().held === 1, 10_000);
    // Other streams on the same connection are held too, not blocked behind the first one.
    const read = h2Request(session, {});
    await waitUntil('the second request to be held', () => proxy.stats().held === 2, 10_000);
    assert.equal(answered, false);
    proxy.setMaintenance({ mode: 'off' });
    const [write, get] = await Promise.all([held, read]);
    assert.deepEqual([write.status, JSON.parse(write.body).length], [200, 'note=1'.length]);
    assert.equal(get.status, 200);
    assert.equal(await proxy.writesSettled(5_000), true);

    proxy.setMaintenance({ mode: 'refuse', retryAfterSeconds: 7 });
    const refused = await h2Request(session, { headers: { accept: 'application/json' } });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '7');
    assert.deepEqual(JSON.parse(refused.body), { error: 'maintenance', retryAfterSeconds: 7 });
    proxy.setMaintenance({ mode: 'hold', holdMs: 50, afterHold: 'refuse' });
    assert.equal((await h2Request(session, { method: 'DELETE' })).status, 503);
    proxy.setMaintenance({ mode: 'off' });
    assert.equal((await h2Request(session, {})).status, 200, 'the session still serves');
  });

  it("the proxy's own answers on a stream: 503 with no release, 502 when the app does not answer; the session carries on", async (t) => {
    const { proxy, cert, app } = await startProxy(t, { target: false });
    const session = await connect(t, proxy, cert.cert);
    const none = await h2Request(session, {});
    assert.equal(none.status, 503);
    assert.deepEqual(JSON.parse(none.body), { error: 'no release is serving' });
    await proxy.switchTo(await freePort()); // nothing listens there
    const bad = await h2Request(session, { method: 'POST', chunks: ['x=1'] });
    assert.equal(bad.status, 502);
    assert.match(bad.body, /^Bad gateway: the application did not answer \(ECONNREFUSED\)/);
    assert.equal(bad.headers.connection, undefined);
    assert.equal(proxy.stats().errors, 1);
    await proxy.switchTo(app.port);
    assert.equal((await h2Request(session, {})).status, 200);
    assert.equal(session.closed || session.destroyed, false);
  });

  it('trusted_proxies applies to HTTP/2 connections by their address', async (t) => {
    const { proxy, cert } = await startProxy(t, { trustedProxies: ['127.0.0.2'] });
    const forged = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'bank.example.com' };
    const fromClient = JSON.parse((await h2Request(await connect(t, proxy, cert.cert), { headers: forged })).body);
    assert.equal(fromClient.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(fromClient.headers['x-forwarded-host'], NAME);
    const fromTrusted = JSON.parse((await h2Request(await connect(t, proxy, cert.cert, { localAddress: '127.0.0.2' }), { headers: forged })).body);
    assert.equal(fromTrusted.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.2');
    assert.equal(fromTrusted.headers['x-forwarded-host'], 'bank.example.com');
  });

  it('a new certificate is served to new HTTP/2 connections; an open session carries on', async (t) => {
    const { proxy, contexts, cert, dir } = await startProxy(t);
    const second = selfSigned({ dir, label: 'second', names: [NAME] });
    const ca = [cert.cert, second.cert];
    const fingerprint = (session: http2.ClientHttp2Session) => (session.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
    const before = await connect(t, proxy, ca);
    assert.equal(fingerprint(before), new crypto.X509Certificate(cert.cert).fingerprint256);
    contexts.set(NAME, second, { fallback: true });
    assert.equal((await h2Request(before, {})).status, 200);
    const after = await connect(t, proxy, ca);
    assert.equal(fingerprint(after), new crypto.X509Certificate(second.cert).fingerprint256);
    assert.equal((await h2Request(after, {})).status, 200);
  });

  it('close() with HTTP/2 sessions open: a GOAWAY, the stream in flight finishes, then close resolves', { timeout: 30_000 }, async (t) => {
    const { proxy, cert, app } = await startProxy(t);
    const idle = await connect(t, proxy, cert.cert);
    const busy = await connect(t, proxy, cert.cert);
    assert.equal((await h2Request(idle, {})).status, 200);
    const slow = h2Request(busy, { path: '/slow' });
    await waitUntil('the slow request to reach the app', () => proxy.stats().targets[0]?.inFlight === 1, 10_000);
    const goaway = new Promise<void>((resolve) => busy.once('goaway', () => resolve()));
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    let closed = false;
    const closing = proxy.close().then(() => (closed = true));
    await goaway;
    await idleClosed;
    assert.equal(closed, false, 'close waits for the stream in flight');
    app.releaseSlow();
    const answer = await slow;
    assert.deepEqual([answer.status, answer.body], [200, 'v1 slow']);
    await closing;
    await assert.rejects(connect(t, proxy, cert.cert), /ECONNREFUSED/);
  });

  it('close() does not wait for ever: a stream that never ends is cut after a grace', { timeout: 30_000 }, async (t) => {
    const { proxy, cert } = await startProxy(t);
    const session = await connect(t, proxy, cert.cert);
    const stuck = h2Request(session, { path: '/slow' }).then((a) => `answered ${a.status}`, (error: Error) => error.message);
    await waitUntil('the slow request to reach the app', () => proxy.stats().targets[0]?.inFlight === 1, 10_000);
    await proxy.close();
    assert.match(await stuck, /^the stream (ended without an answer|closed before its end)/);
  });
});
