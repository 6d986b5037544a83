// Certificates from a real ACME server (pebble, on loopback): obtained at start and served by the
// proxy over HTTPS, renewed once due (the clock moved) without dropping a keep-alive connection, a
// failing challenge recorded while the old certificate stays served, keys written 0600. Retries
// follow their backoff, not the hourly look; a start retries at once; a certificate that expired
// while the agent was stopped is replaced at its start; a key found readable by others is repaired
// and replaced.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { TlsConfig } from '../../src/config/types.js';
import { accountKeyFile, domainFiles, readRenewal, writeRenewal } from '../../src/agent/certificate-files.js';
import { checkTls } from '../../src/doctor/tls-checks.js';
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

/** One TLS handshake with `servername` DOMAIN: the certificate served, and whether a client trusting `ca` accepts it (else why). */
function handshake(port: number, ca: string): Promise<{ fingerprint: string; refused: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: DOMAIN, ca, rejectUnauthorized: false }, () => {
      const peer = socket.getPeerCertificate();
      const refused = socket.authorized ? null : String(socket.authorizationError);
      socket.end();
      resolve({ fingerprint: peer.fingerprint256, refused });
    });
    socket.on('error', reject);
  });
}

interface AgentParts {
  contexts: SecureContexts;
  challenges: AcmeChallenges;
}

/** pebble, a host layout, and what an agent has: its proxy's certificates and challenges, and its certificate manager. */
async function acmeBench(hooks: Array<() => unknown>, o: { validitySeconds?: number } = {}) {
  const t = { after: (fn: () => unknown) => hooks.push(fn) };
  const httpPort = await freePort();
  const pebble = await startPebble(t, { httpPort, ...(o.validitySeconds === undefined ? {} : { validitySeconds: o.validitySeconds }) });
  const layout = hostLayout(tempDir(t));
  await ensureHostLayout(layout);
  const tlsConfig: TlsConfig = { kind: 'acme', domains: [DOMAIN], acmeDirectory: pebble.directoryUrl, port: 443, httpPort: 80, redirectHttp: true };
  const logs: string[] = [];
  return {
    pebble,
    layout,
    tlsConfig,
    logs,
    parts: (): AgentParts => ({ contexts: new SecureContexts(), challenges: new AcmeChallenges() }),
    /** the agent's proxy, listening on pebble's HTTP-01 port; close() frees it for the next "agent" */
    async listen(parts: AgentParts): Promise<ReverseProxy> {
      const proxy = await createProxy({ host: '127.0.0.1', port: 0, tls: { port: 0, httpPort, redirectHttp: true, ...parts } });
      hooks.push(() => proxy.close());
      return proxy;
    },
    manager(parts: AgentParts, more: Partial<CertificateManagerOptions> = {}): CertificateManager {
      const m = new CertificateManager({ tls: tlsConfig, layout, projectDir: layout.root, ...parts, log: (line) => logs.push(`${new Date().toISOString()} ${line}`), directoryCa: pebble.directoryCa, ...more });
      hooks.push(() => m.stop());
      return m;
    },
  };
}

describe('retries, restarts, expiry and key modes against pebble', { skip: missing }, () => {
  const hooks: Array<() => unknown> = [];
  after(async () => {
    for (const hook of hooks.reverse()) await hook();
  });

  it('a failed order is retried when its backoff says (0.5 s, 1 s, 2 s…), not at the hourly look; once fixed, the next retry obtains the certificate', { timeout: 90_000 }, async () => {
    const bench = await acmeBench(hooks);
    const parts = bench.parts();
    // Nothing answers pebble's HTTP-01 check yet (as with a wrong DNS record, or port 80 closed): every order fails.
    const m = bench.manager(parts, { checkIntervalMs: 3_600_000, retryMinMs: 500, retryMaxMs: 60_000 });
    await m.load();
    m.start();
    await waitUntil('three failed attempts', async () => (await readRenewal(bench.layout, DOMAIN)).failures >= 3, 60_000, { explain: () => bench.logs.join('\n') });
    const failed = await readRenewal(bench.layout, DOMAIN);
    const lines = bench.logs.filter((line) => /not obtained \(attempt \d+/.test(line));
    // The third failure set the next attempt 2 s later (0.5 s doubled twice): far sooner than the hourly look.
    assert.match(lines[2]!, /\(attempt 3, next in 2 s\)/);
    const at = lines.map((line) => Date.parse(line.slice(0, 24)));
    // Each attempt waited for its backoff, counted from the failure before it: 0.5 s, then 1 s.
    assert.ok(at[1]! - at[0]! >= 500 && at[2]! - at[1]! >= 1000, lines.join('\n'));

    // Fixed (port 80 now reaches the proxy): the next retry obtains the certificate, seconds later.
    const proxy = await bench.listen(parts);
    await waitUntil('the certificate after the fix', () => fs.existsSync(domainFiles(bench.layout, DOMAIN).cert), 30_000, { explain: () => bench.logs.join('\n') });
    const done = await readRenewal(bench.layout, DOMAIN);
    assert.equal(done.failures, 0);
    assert.equal(done.nextAttemptAt, null);
    assert.ok(Date.parse(done.lastSuccessAt!) - Date.parse(failed.lastAttemptAt!) < 20_000, 'not an hour later');
    assert.equal((await handshake(proxy.httpsPort!, bench.pebble.issuerRoot)).refused, null);
  });

  it('an agent start retries at once, before the backoff ends, unless the last attempt is younger than the first backoff step', { timeout: 60_000 }, async () => {
    const bench = await acmeBench(hooks);
    const parts = bench.parts();
    await bench.listen(parts);
    const now = Date.now();
    // Five failures in a row: the next attempt is hours away. The last one was a minute ago (under 5 min).
    const failedRecord = (lastAttemptMsAgo: number) =>
      writeRenewal(bench.layout, DOMAIN, {
        lastAttemptAt: new Date(now - lastAttemptMsAgo).toISOString(),
        lastSuccessAt: null,
        lastError: { at: new Date(now - lastAttemptMsAgo).toISOString(), message: 'DNS pointed elsewhere' },
        failures: 5,
        nextAttemptAt: new Date(now + 3 * 3_600_000).toISOString(),
        keyExposed: null,
      });
    await failedRecord(60_000);
    const restartedInALoop = bench.manager(parts);
    await restartedInALoop.load();
    restartedInALoop.start();
    await restartedInALoop.check();
    await restartedInALoop.stop();
    assert.equal((await readRenewal(bench.layout, DOMAIN)).lastAttemptAt, new Date(now - 60_000).toISOString(), 'no attempt: the CA was asked a minute ago');
    assert.equal(fs.existsSync(domainFiles(bench.layout, DOMAIN).cert), false);

    // Ten minutes after that attempt, the operator fixed DNS and restarts the agent: it tries at once, and succeeds.
    await failedRecord(10 * 60_000);
    const restarted = bench.manager(parts);
    await restarted.load();
    restarted.start();
    await restarted.check();
    assert.ok(fs.existsSync(domainFiles(bench.layout, DOMAIN).cert), bench.logs.join('\n'));
    const renewal = await readRenewal(bench.layout, DOMAIN);
    assert.equal(renewal.failures, 0);
    assert.ok(renewal.lastError, 'the last error stays on record, older than the success');
    assert.ok(renewal.lastError!.at < renewal.lastSuccessAt!);
  });

  it('a certificate that expired while the agent was stopped is replaced at its start; the expired one is served meanwhile', { timeout: 90_000 }, async () => {
    const bench = await acmeBench(hooks, { validitySeconds: 3 });
    const first = bench.parts();
    const firstProxy = await bench.listen(first);
    const before = bench.manager(first);
    await before.load();
    before.start();
    await before.check();
    const certFile = domainFiles(bench.layout, DOMAIN).cert;
    assert.ok(fs.existsSync(certFile), bench.logs.join('\n'));
    const { notAfter } = (await describeTls({ tls: bench.tlsConfig, layout: bench.layout, projectDir: bench.layout.root })).certificates[0]!;
    // The agent stops (its proxy with it) and stays stopped past the certificate's end.
    await before.stop();
    await firstProxy.close();
    await waitUntil('the certificate to expire', () => Date.now() > Date.parse(notAfter!) + 1000, 10_000);

    // The agent starts again: load() puts the expired certificate in the proxy before it listens.
    const again = bench.parts();
    const m = bench.manager(again);
    await m.load();
    const proxy = await bench.listen(again);
    // Meanwhile the expired certificate is what the proxy serves: a client refuses it (as it would refuse no certificate at all).
    const meanwhile = await handshake(proxy.httpsPort!, bench.pebble.issuerRoot);
    assert.equal(meanwhile.refused, 'CERT_HAS_EXPIRED');
    assert.ok(bench.logs.some((line) => line.includes(`the certificate of ${DOMAIN} expired on`)), bench.logs.join('\n'));
    // Its start orders the new one at once (the certificate is past due), and the proxy serves it from the next handshake on.
    m.start();
    let served = meanwhile;
    await waitUntil('a valid certificate to be served', async () => (served = await handshake(proxy.httpsPort!, bench.pebble.issuerRoot)).refused === null, 60_000, { explain: () => `${served.refused}\n${bench.logs.join('\n')}` });
    assert.notEqual(served.fingerprint, meanwhile.fingerprint);
    // (The proxy has it a moment before the files and the log line.)
    await waitUntil('the renewal to be recorded', () => bench.logs.some((line) => line.includes(`certificate for ${DOMAIN} renewed`)), 5_000, { explain: () => bench.logs.join('\n') });
    await m.stop();
  });

  it('a stored key others can read is set to 0600 at start and replaced by a new certificate and key; doctor reports it', { timeout: 60_000 }, async () => {
    const bench = await acmeBench(hooks);
    const parts = bench.parts();
    const proxy = await bench.listen(parts);
    const first = bench.manager(parts);
    await first.load();
    first.start();
    await first.check();
    await first.stop();
    const files = domainFiles(bench.layout, DOMAIN);
    const served = await handshake(proxy.httpsPort!, bench.pebble.issuerRoot);
    assert.equal(served.refused, null);
    // A restore or a copy lost the modes.
    fs.chmodSync(files.key, 0o644);
    fs.chmodSync(accountKeyFile(bench.layout), 0o640);
    const doctor = async () => (await checkTls({ tls: bench.tlsConfig, layout: bench.layout, projectDir: bench.layout.root, environment: 'production' })).find((c) => c.name === 'tls keys')!;
    const loose = await doctor();
    assert.equal(loose.status, 'fail');
    assert.match(loose.detail, /account\.key has mode 0640; .*key\.pem has mode 0644: other users can read these private keys/);
    assert.match(loose.fix!, /^chmod 600 .*account\.key .*key\.pem; the agent also does it when it starts, and then orders new certificates/);

    // The agent starts: both keys are set to 0600 before anything listens, the certificate stays served, and a new one is due.
    const m = bench.manager(parts);
    await m.load();
    assert.equal(fs.statSync(files.key).mode & 0o777, 0o600);
    assert.equal(fs.statSync(accountKeyFile(bench.layout)).mode & 0o777, 0o600);
    assert.deepEqual((await readRenewal(bench.layout, DOMAIN)).keyExposed?.mode, '0644');
    assert.equal((await handshake(proxy.httpsPort!, bench.pebble.issuerRoot)).fingerprint, served.fingerprint, 'still served while the new one is ordered');
    const pending = await doctor();
    assert.equal(pending.status, 'warn');
    assert.match(pending.detail, new RegExp(`a new certificate and key are being ordered for ${DOMAIN.replace(/\./g, '\\.')} \\(its key had mode 0644 at `));
    const oldKey = fs.readFileSync(files.key, 'utf8');
    m.start();
    await m.check();
    assert.notEqual(fs.readFileSync(files.key, 'utf8'), oldKey, 'a new key');
    assert.equal(fs.statSync(files.key).mode & 0o777, 0o600);
    assert.equal((await readRenewal(bench.layout, DOMAIN)).keyExposed, null);
    assert.notEqual((await handshake(proxy.httpsPort!, bench.pebble.issuerRoot)).fingerprint, served.fingerprint, 'the new certificate is served');
    assert.equal((await doctor()).status, 'ok');
    assert.ok(bench.logs.some((line) => line.includes('had mode 0644, readable by other users: set to 0600, and a new certificate with a new key is ordered now')), bench.logs.join('\n'));
  });
});
