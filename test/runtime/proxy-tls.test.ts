// HTTPS in slipway's proxy with real sockets: the app over TLS (one request path with plain
// HTTP: switches, maintenance holds, upgrades), X-Forwarded-Proto, challenges and redirects on
// the plain port, and a certificate swapped while a keep-alive connection stays open.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import { describe, it, type TestContext } from 'node:test';
import { AcmeChallenges } from '../../src/runtime/acme-challenges.js';
import { createProxy, type ReverseProxy } from '../../src/runtime/proxy.js';
import { SecureContexts } from '../../src/runtime/proxy-tls.js';
import { tempDir } from '../helpers/temp-dir.js';
import { freePort } from '../helpers/free-port.js';
import { hasOpenssl, selfSigned, type MadeCertificate } from '../helpers/self-signed.js';

const NAME = 'app.test';

/** An app answering its name and the headers it got; upgrades echo what the client sends. */
async function startApp(t: TestContext, name: string): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, proto: req.headers['x-forwarded-proto'], host: req.headers['x-forwarded-host'] }));
    });
  });
  server.on('upgrade', (_req, socket: net.Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return (server.address() as net.AddressInfo).port;
}

interface Setup {
  proxy: ReverseProxy;
  contexts: SecureContexts;
  challenges: AcmeChallenges;
  first: MadeCertificate;
  dir: string;
}

async function startTlsProxy(t: TestContext, o: { redirectHttp?: boolean } = {}): Promise<Setup> {
  const dir = tempDir(t);
  const first = selfSigned({ dir, label: 'first', names: [NAME] });
  const contexts = new SecureContexts();
  contexts.set(NAME, first);
  const challenges = new AcmeChallenges();
  const proxy = await createProxy({ host: '127.0.0.1', port: 0, tls: { port: 0, httpPort: 0, redirectHttp: o.redirectHttp ?? true, contexts, challenges } });
  t.after(() => proxy.close());
  await proxy.switchTo(await startApp(t, 'v1'));
  return { proxy, contexts, challenges, first, dir };
}

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  fingerprint?: string;
  reused: boolean;
}

function request(o: { host?: string; port: number; secure: boolean; ca?: string | string[]; path?: string; method?: string; agent?: http.Agent | false; servername?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: o.host ?? '127.0.0.1', port: o.port, path: o.path ?? '/', method: o.method ?? 'GET', headers: { host: `${NAME}:${o.port}` }, agent: o.agent ?? false };
    const req = o.secure
      ? https.request({ ...options, ca: o.ca, servername: o.servername ?? NAME }, done)
      : http.request(options, done);
    function done(res: http.IncomingMessage) {
      // Read now: a keep-alive socket goes back to its agent once the answer ends.
      const peer = o.secure ? (res.socket as tls.TLSSocket).getPeerCertificate() : undefined;
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers, ...(peer?.fingerprint256 ? { fingerprint: peer.fingerprint256 } : {}), reused: req.reusedSocket });
      });
    }
    req.on('error', reject);
    req.end(o.method === 'POST' ? 'a=1' : undefined);
  });
}

function fingerprintOf(pem: string): string {
  return new crypto.X509Certificate(pem).fingerprint256;
}

describe('HTTPS in the proxy', { skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)' }, () => {
  it('serves the app over HTTPS with X-Forwarded-Proto https, and plain HTTP on its own port with http', async (t) => {
    const { proxy, first } = await startTlsProxy(t);
    assert.ok(proxy.httpsPort! > 0 && proxy.challengePort! > 0 && proxy.httpsPort !== proxy.port && proxy.challengePort !== proxy.port);
    const secure = await request({ port: proxy.httpsPort!, secure: true, ca: first.cert });
    assert.equal(secure.status, 200);
    assert.deepEqual(JSON.parse(secure.body), { name: 'v1', proto: 'https', host: `${NAME}:${proxy.httpsPort}` });
    assert.equal(secure.fingerprint, fingerprintOf(first.cert));
    const plain = await request({ port: proxy.port, secure: false });
    assert.deepEqual(JSON.parse(plain.body), { name: 'v1', proto: 'http', host: `${NAME}:${proxy.port}` });
    // A client that sends no server name (an IP address) gets the fallback certificate.
    const noSni = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, ca: first.cert, checkServerIdentity: () => undefined }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      });
      socket.on('error', reject);
    });
    assert.equal(noSni, fingerprintOf(first.cert));
  });

  it('answers ACME challenges on the plain port and redirects everything else to HTTPS', async (t) => {
    const { proxy, challenges } = await startTlsProxy(t);
    challenges.add('tok-123_abc', 'tok-123_abc.thumbprint');
    const answered = await request({ port: proxy.challengePort!, secure: false, path: '/.well-known/acme-challenge/tok-123_abc' });
    assert.equal(answered.status, 200);
    assert.equal(answered.body, 'tok-123_abc.thumbprint');
    // Challenges pass even while maintenance refuses everything.
    proxy.setMaintenance({ mode: 'refuse' });
    assert.equal((await request({ port: proxy.challengePort!, secure: false, path: '/.well-known/acme-challenge/tok-123_abc' })).status, 200);
    proxy.setMaintenance({ mode: 'off' });
    challenges.remove('tok-123_abc');
    assert.equal((await request({ port: proxy.challengePort!, secure: false, path: '/.well-known/acme-challenge/tok-123_abc' })).status, 404);

    const get = await request({ port: proxy.challengePort!, secure: false, path: '/notes?page=2' });
    assert.equal(get.status, 301);
    assert.equal(get.headers.location, `https://${NAME}:${proxy.httpsPort}/notes?page=2`);
    const post = await request({ port: proxy.challengePort!, secure: false, path: '/notes', method: 'POST' });
    assert.equal(post.status, 308);
    assert.equal(post.headers.location, `https://${NAME}:${proxy.httpsPort}/notes`);
    // The environment's own port still serves the app, and answers challenges too.
    challenges.add('tok2', 'tok2.thumbprint');
    assert.equal((await request({ port: proxy.port, secure: false, path: '/.well-known/acme-challenge/tok2' })).body, 'tok2.thumbprint');
    assert.equal((await request({ port: proxy.port, secure: false, path: '/notes' })).status, 200);
  });

  it("the environment's port as the challenge port: one plain listener answers challenges and redirects", async (t) => {
    const dir = tempDir(t);
    const contexts = new SecureContexts();
    contexts.set(NAME, selfSigned({ dir, label: 'merged', names: [NAME] }));
    const challenges = new AcmeChallenges();
    challenges.add('tok', 'tok.thumbprint');
    const port = await freePort();
    const proxy = await createProxy({ host: '127.0.0.1', port, tls: { port: 0, httpPort: port, redirectHttp: true, contexts, challenges } });
    t.after(() => proxy.close());
    await proxy.switchTo(await startApp(t, 'v1'));
    assert.equal(proxy.challengePort, port);
    assert.equal((await request({ port, secure: false, path: '/.well-known/acme-challenge/tok' })).body, 'tok.thumbprint');
    const redirect = await request({ port, secure: false, path: '/x' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, `https://${NAME}:${proxy.httpsPort}/x`);
  });

  it("bound to every address, the environment's plain port stays on loopback: from outside only HTTPS and the challenge port answer", async (t) => {
    const outside = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (!outside) return t.skip('this machine has no non-loopback IPv4 address to try from');
    const dir = tempDir(t);
    const cert = selfSigned({ dir, label: 'wide', names: [NAME] });
    const contexts = new SecureContexts();
    contexts.set(NAME, cert);
    const proxy = await createProxy({ host: '0.0.0.0', port: 0, tls: { port: 0, httpPort: 0, redirectHttp: true, contexts, challenges: new AcmeChallenges() } });
    t.after(() => proxy.close());
    await proxy.switchTo(await startApp(t, 'v1'));
    const from = (host: string, port: number, secure: boolean) => request({ host, port, secure, ca: cert.cert }).then((a) => a.status, (e: NodeJS.ErrnoException) => e.code ?? String(e));
    assert.equal(proxy.host, '127.0.0.1', 'the proxy says where its plain port listens (the agent logs it)');
    assert.equal(await from('127.0.0.1', proxy.port, false), 200, 'the plain port serves on loopback');
    assert.equal(await from(outside, proxy.port, false), 'ECONNREFUSED', 'and not on the outside address');
    assert.equal(await from(outside, proxy.httpsPort!, true), 200, 'HTTPS answers on the outside address');
    assert.equal(await from(outside, proxy.challengePort!, false), 301, 'the challenge port redirects there');
  });

  it('redirect_http false: the plain port serves the app', async (t) => {
    const { proxy } = await startTlsProxy(t, { redirectHttp: false });
    const plain = await request({ port: proxy.challengePort!, secure: false, path: '/notes' });
    assert.equal(plain.status, 200);
    assert.equal(JSON.parse(plain.body).proto, 'http');
  });

  it('a new certificate is served from the next handshake on; an open keep-alive connection carries on', async (t) => {
    const { proxy, contexts, first, dir } = await startTlsProxy(t);
    const second = selfSigned({ dir, label: 'second', names: [NAME] });
    const ca = [first.cert, second.cert];
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => keepAlive.destroy());
    const before = await request({ port: proxy.httpsPort!, secure: true, ca, agent: keepAlive });
    assert.equal(before.fingerprint, fingerprintOf(first.cert));
    contexts.set(NAME, second, { fallback: true });
    const sameConnection = await request({ port: proxy.httpsPort!, secure: true, ca, agent: keepAlive });
    assert.equal(sameConnection.reused, true, 'the keep-alive connection was kept');
    assert.equal(sameConnection.status, 200);
    assert.equal(sameConnection.fingerprint, fingerprintOf(first.cert));
    const fresh = await request({ port: proxy.httpsPort!, secure: true, ca });
    assert.equal(fresh.fingerprint, fingerprintOf(second.cert));
    assert.throws(() => contexts.set(NAME, { cert: second.cert, key: first.key }), /key values mismatch|KEY_VALUES_MISMATCH/i);
    assert.equal((await request({ port: proxy.httpsPort!, secure: true, ca })).fingerprint, fingerprintOf(second.cert), 'a bad pair changes nothing');
  });

  it('a blue/green switch and a maintenance hold over HTTPS under load: no request fails', async (t) => {
    const { proxy, first } = await startTlsProxy(t);
    const v2 = await startApp(t, 'v2');
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 8 });
    t.after(() => keepAlive.destroy());
    let stop = false;
    const seen: string[] = [];
    const failures: string[] = [];
    const worker = async (method: string) => {
      while (!stop) {
        try {
          const answer = await request({ port: proxy.httpsPort!, secure: true, ca: first.cert, agent: keepAlive, method });
          if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
          else seen.push(JSON.parse(answer.body).name as string);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = [worker('GET'), worker('GET'), worker('POST'), worker('POST')];
    while (seen.length < 20) await new Promise((resolve) => setTimeout(resolve, 10));
    proxy.setMaintenance({ mode: 'hold', holdMs: 30_000, afterHold: 'refuse', writesOnly: true });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const switched = await proxy.switchTo(v2);
    assert.equal(switched.drained, true);
    assert.equal(await proxy.writesSettled(10_000), true);
    proxy.setMaintenance({ mode: 'off' });
    const after = seen.length;
    while (seen.length < after + 20) await new Promise((resolve) => setTimeout(resolve, 10));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.equal(seen.at(-1), 'v2');
    assert.ok(seen.includes('v1'));
  });

  it('upgrades (WebSocket) pass through HTTPS', async (t) => {
    const { proxy, first } = await startTlsProxy(t);
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, ca: first.cert, servername: NAME }, () => {
        socket.write(`GET /ws HTTP/1.1\r\nhost: ${NAME}\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n`);
      });
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n\r\n') && !text.includes('ping')) socket.write('ping');
        if (text.endsWith('ping')) {
          resolve(text);
          socket.destroy();
        }
      });
      socket.on('error', reject);
    });
    assert.match(echoed, /^HTTP\/1.1 101 [^]*\r\n\r\nping$/);
  });
});
