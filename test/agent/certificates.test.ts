// Certificates from a real ACME server (pebble, on loopback): obtained at start and served by the
// proxy over HTTPS, renewed once due (the clock moved) without dropping a keep-alive connection, a
// failing challenge recorded while the old certificate stays served, keys written 0600.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { TlsConfig } from '../../src/config/types.js';
import { accountKeyFile, domainFiles, readRenewal } from '../../src/agent/certificate-files.js';
import { describeTls } from '../../src/agent/certificate-report.js';
import { CertificateManager, type CertificateManagerOptions } from '../../src/agent/certificates.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { AcmeChallenges } from '../../src/runtime/acme-challenges.js';
import { createProxy, type ReverseProxy } from '../../src/runtime/proxy.js';
import { SecureContexts } from '../../src/runtime/proxy-tls.js';
import { freePort } from '../helpers/free-port.js';
import { hasPebble, startPebble, type Pebble } from '../helpers/pebble.js';
import { hasOpenssl } from '../helpers/self-signed.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait-until.js';

const DOMAIN = 'shop.slipway.test';
const missing = !hasPebble() ? 'pebble and pebble-challtestsrv are not installed (apt-get install pebble)' : !hasOpenssl() ? 'openssl is not installed' : false;

interface Answer {
  status: number;
  body: string;
  fingerprint: string;
  reused: boolean;
}

function httpsGet(o: { port: number; ca: string; agent?: https.Agent }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: o.port, path: '/', servername: DOMAIN, headers: { host: DOMAIN }, ca: o.ca, agent: o.agent ?? false }, (res) => {
      const fingerprint = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('certificates over ACME against pebble', { skip: missing }, () => {
  const hooks: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => hooks.push(fn) };
  let pebble: Pebble;
  let proxy: ReverseProxy;
  const contexts = new SecureContexts();
  const challenges = new AcmeChallenges();
  let layout: HostLayout;
  let clock = Date.now();
  const logs: string[] = [];

  before(async () => {
    const httpPort = await freePort();
    pebble = await startPebble(t, { httpPort });
    const app = http.createServer((_req, res) => res.end('hello over https'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    hooks.push(() => new Promise((resolve) => { app.close(resolve); app.closeAllConnections(); }));
    proxy = await createProxy({ host: '127.0.0.1', port: 0, tls: { port: 0, httpPort, redirectHttp: true, contexts, challenges } });
    hooks.push(() => proxy.close());
    await proxy.switchTo((app.address() as net.AddressInfo).port);
    layout = hostLayout(tempDir(t));
    await ensureHostLayout(layout);
  });
  after(async () => {
    for (const hook of hooks.reverse()) await hook();
  });

  function manager(o: Partial<CertificateManagerOptions> = {}): CertificateManager {
    const tlsConfig: TlsConfig = { kind: 'acme', domains: [DOMAIN], email: 'ops@slipway.test', acmeDirectory: pebble.directoryUrl, port: 443, httpPort: 80, redirectHttp: true };
    const m = new CertificateManager({ tls: tlsConfig, layout, projectDir: layout.root, contexts, challenges, log: (line) => logs.push(line), now: () => new Date(clock), checkIntervalMs: 3_600_000, retryMinMs: 60_000, directoryCa: pebble.directoryCa, ...o });
    hooks.push(() => m.stop());
    return m;
  }

  it('obtains a certificate at start; the proxy serves the app over HTTPS with it; keys are 0600', async () => {
    const m = manager();
    await m.load();
    m.start();
    await m.check();
    const answer = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'hello over https');
    const files = domainFiles(layout, DOMAIN);
    assert.equal(fs.statSync(files.key).mode & 0o777, 0o600);
    assert.equal(fs.statSync(accountKeyFile(layout)).mode & 0o777, 0o600);
    assert.equal(fs.statSync(layout.tlsDir).mode & 0o777, 0o700);
    const view = await describeTls({ tls: { kind: 'acme', domains: [DOMAIN], acmeDirectory: pebble.directoryUrl, port: 443, httpPort: 80, redirectHttp: true }, layout, projectDir: layout.root, now: new Date(clock) });
    const [certificate] = view.certificates;
    assert.equal(certificate!.state, 'valid');
    assert.match(certificate!.issuer!, /Pebble/i);
    assert.deepEqual(certificate!.names, [DOMAIN]);
    assert.equal(certificate!.lastError, null);
    assert.ok(certificate!.lastRenewalAt);
    assert.ok(new Date(certificate!.renewAfter!) < new Date(certificate!.notAfter!));
    assert.equal(challenges.size, 0, 'no challenge is left answered');
  });

  it('renews once a third of the lifetime is left, without dropping an open keep-alive connection', async () => {
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    hooks.push(() => keepAlive.destroy());
    const before = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot, agent: keepAlive });
    const firstCert = fs.readFileSync(domainFiles(layout, DOMAIN).cert, 'utf8');
    const m = manager();
    await m.load();
    m.start(); // loads the certificate on disk
    await m.check();
    assert.equal(fs.readFileSync(domainFiles(layout, DOMAIN).cert, 'utf8'), firstCert, 'not due yet: not renewed');
    const { renewAfter } = (await describeTls({ tls: { kind: 'acme', domains: [DOMAIN], acmeDirectory: pebble.directoryUrl, port: 443, httpPort: 80, redirectHttp: true }, layout, projectDir: layout.root })).certificates[0]!;
    clock = new Date(renewAfter!).getTime() + 1000;
    await m.check();
    assert.notEqual(fs.readFileSync(domainFiles(layout, DOMAIN).cert, 'utf8'), firstCert, 'renewed');
    const same = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot, agent: keepAlive });
    assert.equal(same.reused, true, 'the keep-alive connection stayed open');
    assert.equal(same.status, 200);
    assert.equal(same.fingerprint, before.fingerprint);
    const fresh = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot });
    assert.notEqual(fresh.fingerprint, before.fingerprint, 'a new connection gets the renewed certificate');
    assert.ok(logs.some((line) => line.includes(`certificate for ${DOMAIN} renewed`)), logs.join('\n'));
  });

  it('a failing challenge is recorded, retried later, and the old certificate stays served', async () => {
    const served = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot });
    const certBefore = fs.readFileSync(domainFiles(layout, DOMAIN).cert, 'utf8');
    // The manager's challenges never reach the proxy: pebble's check of the token gets 404.
    const { renewAfter } = (await describeTls({ tls: { kind: 'acme', domains: [DOMAIN], acmeDirectory: pebble.directoryUrl, port: 443, httpPort: 80, redirectHttp: true }, layout, projectDir: layout.root })).certificates[0]!;
    clock = new Date(renewAfter!).getTime() + 1000;
    const m = manager({ challenges: new AcmeChallenges() });
    await m.load();
    m.start();
    await m.check();
    const renewal = await readRenewal(layout, DOMAIN);
    assert.equal(renewal.failures, 1);
    assert.match(renewal.lastError!.message, /did not issue a certificate for shop\.slipway\.test/);
    assert.equal(new Date(renewal.nextAttemptAt!).getTime(), clock + 60_000);
    assert.equal(fs.readFileSync(domainFiles(layout, DOMAIN).cert, 'utf8'), certBefore);
    const still = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot });
    assert.equal(still.status, 200);
    assert.equal(still.fingerprint, served.fingerprint);
    assert.ok(logs.some((line) => /not renewed \(attempt 1, next in 60 s\); the current certificate stays served until/.test(line)), logs.join('\n'));
    // Within the backoff, no new attempt is made.
    await m.check();
    assert.equal((await readRenewal(layout, DOMAIN)).lastAttemptAt, renewal.lastAttemptAt);
    const view = (await describeTls({ tls: { kind: 'acme', domains: [DOMAIN], acmeDirectory: pebble.directoryUrl, port: 443, httpPort: 80, redirectHttp: true }, layout, projectDir: layout.root, now: new Date(clock) })).certificates[0]!;
    assert.equal(view.state, 'renewal-due');
    assert.equal(view.lastError!.message, renewal.lastError!.message);
  });
});

describe('unattended renewal of a short-lived certificate', { skip: missing }, () => {
  const hooks: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => hooks.push(fn) };
  after(async () => {
    for (const hook of hooks.reverse()) await hook();
  });

  it('the agent\'s timer renews a 6-second certificate before it expires, and the proxy serves the new one', async () => {
    const httpPort = await freePort();
    const pebble = await startPebble(t, { httpPort, validitySeconds: 6 });
    const contexts = new SecureContexts();
    const challenges = new AcmeChallenges();
    const app = http.createServer((_req, res) => res.end('short-lived'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    hooks.push(() => new Promise((resolve) => { app.close(resolve); app.closeAllConnections(); }));
    const proxy = await createProxy({ host: '127.0.0.1', port: 0, tls: { port: 0, httpPort, redirectHttp: true, contexts, challenges } });
    hooks.push(() => proxy.close());
    await proxy.switchTo((app.address() as net.AddressInfo).port);
    const layout = hostLayout(tempDir(t));
    await ensureHostLayout(layout);
    const tlsConfig: TlsConfig = { kind: 'acme', domains: [DOMAIN], acmeDirectory: pebble.directoryUrl, port: 443, httpPort: 80, redirectHttp: true };
    const m = new CertificateManager({ tls: tlsConfig, layout, projectDir: layout.root, contexts, challenges, log: () => undefined, checkIntervalMs: 250, directoryCa: pebble.directoryCa });
    hooks.push(() => m.stop());
    await m.load();
    m.start();
    const certFile = domainFiles(layout, DOMAIN).cert;
    await waitUntil('the first certificate', () => fs.existsSync(certFile), 20_000);
    const first = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot });
    assert.equal(first.body, 'short-lived');
    const firstPem = fs.readFileSync(certFile, 'utf8');
    const { notAfter } = (await describeTls({ tls: tlsConfig, layout, projectDir: layout.root })).certificates[0]!;
    await waitUntil('the renewal', () => fs.readFileSync(certFile, 'utf8') !== firstPem, 20_000);
    const renewed = await httpsGet({ port: proxy.httpsPort!, ca: pebble.issuerRoot });
    assert.equal(renewed.status, 200);
    assert.notEqual(renewed.fingerprint, first.fingerprint);
    const renewal = await readRenewal(layout, DOMAIN);
    assert.ok(new Date(renewal.lastSuccessAt!) < new Date(notAfter!), 'renewed before the old certificate expired');
  });
});
