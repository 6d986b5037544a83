// HTTPS out of the box, end to end with the real CLI, agent, proxy and app, and a real ACME
// server (pebble): `tls: { domains }` gives a working HTTPS site after `slipway deploy`; v1 → v2
// under HTTPS load fails no request; status and doctor show the certificate. A user key file
// others can read is refused; an expired user certificate is reported by doctor. A user's
// certificate files, replaced, are served from the next connection on; open ones keep theirs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type tls from 'node:tls';
import { describe, it } from 'node:test';
import { createHostFixture, waitUntil } from '../helpers/host-fixture.js';
import { freePort } from '../helpers/free-port.js';
import { hasPebble, startPebble } from '../helpers/pebble.js';
import { hasOpenssl, selfSigned } from '../helpers/self-signed.js';

const DOMAIN = 'notes.slipway.test';
const missing = !hasPebble() ? 'pebble and pebble-challtestsrv are not installed (apt-get install pebble)' : !hasOpenssl() ? 'openssl is not installed' : false;

function httpsGet(o: { port: number; ca: string | string[]; path: string; agent?: https.Agent }): Promise<{ status: number; body: string; headers: Record<string, unknown>; serial: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: o.port, path: o.path, servername: DOMAIN, headers: { host: DOMAIN }, ca: o.ca, agent: o.agent ?? false, timeout: 20_000 }, (res) => {
      const serial = (res.socket as tls.TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, serial, reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('HTTPS end to end', { skip: missing }, () => {
  it('tls with a domain: deploy gives HTTPS, v1 → v2 under HTTPS load fails no request, status and doctor show the certificate', { timeout: 180_000 }, async (t) => {
    const host = await createHostFixture(t, { healthWindow: '1s', healthDeadline: '6s', build: ['v1', 'v2'] });
    const [httpPort, tlsPort] = [await freePort(), await freePort()];
    const pebble = await startPebble(t, { httpPort });
    const caFile = path.join(host.dir, 'acme-directory-ca.pem');
    fs.writeFileSync(caFile, pebble.directoryCa);
    fs.appendFileSync(path.join(host.repo, 'slipway.yml'), `    tls: { domains: [${DOMAIN}], email: ops@slipway.test, acme_directory: "${pebble.directoryUrl}", port: ${tlsPort}, http_port: ${httpPort} }\n`);
    // The agent trusts pebble's own listener the way Node trusts any private CA.
    await host.startAgent({ env: { NODE_EXTRA_CA_CERTS: caFile } });
    const first = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
    assert.equal(first.code, 0, first.stderr);
    await waitUntil('the certificate to be obtained and served', () => httpsGet({ port: tlsPort, ca: pebble.issuerRoot, path: '/version' }).then((a) => a.status === 200 && a.body === 'v1', () => false), 30_000);

    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 6 });
    t.after(() => keepAlive.destroy());
    let stop = false;
    const failures: string[] = [];
    const versions: string[] = [];
    const worker = async (urlPath: string) => {
      while (!stop) {
        try {
          const answer = await httpsGet({ port: tlsPort, ca: pebble.issuerRoot, path: urlPath, agent: keepAlive });
          if (answer.status !== 200) failures.push(`${urlPath}: ${answer.status} ${answer.body.slice(0, 200)}`);
          else if (urlPath === '/version') versions.push(answer.body);
        } catch (error) {
          failures.push(`${urlPath}: ${(error as Error).message}`);
        }
      }
    };
    const workers = [worker('/version'), worker('/version'), worker('/'), worker('/api/notes')];
    await waitUntil('the load to get going', () => versions.length >= 20);
    const second = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
    const atDeploy = versions.length;
    await waitUntil('requests after the deploy', () => versions.length >= atDeploy + 20);
    stop = true;
    await Promise.all(workers);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(failures, []);
    assert.ok(versions.includes('v1') && versions.at(-1) === 'v2', `versions seen: ${[...new Set(versions)].join(', ')}`);

    // Plain HTTP on http_port redirects to HTTPS.
    const redirect = await new Promise<http.IncomingMessage>((resolve, reject) => http.get({ host: '127.0.0.1', port: httpPort, path: '/api/notes', headers: { host: DOMAIN }, agent: false }, resolve).on('error', reject));
    redirect.resume();
    assert.equal(redirect.statusCode, 301);
    assert.equal(redirect.headers.location, `https://${DOMAIN}:${tlsPort}/api/notes`);

    const status = await host.cli(['status', 'production', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as { url: string; current: { version: string }; tls: { port: number; certificates: Array<{ domain: string; state: string; issuer: string; notAfter: string; lastError: unknown }> } };
    assert.equal(report.current.version, 'v2');
    assert.equal(report.tls.port, tlsPort);
    assert.equal(report.tls.certificates[0]!.domain, DOMAIN);
    assert.equal(report.tls.certificates[0]!.state, 'valid');
    assert.match(report.tls.certificates[0]!.issuer, /Pebble/i);
    assert.equal(report.tls.certificates[0]!.lastError, null);
    const text = await host.cli(['status', 'production']);
    assert.match(text.stdout, new RegExp(`https +https://${DOMAIN.replace(/\./g, '\\.')}:${tlsPort}`));
    assert.match(text.stdout, new RegExp(`${DOMAIN.replace(/\./g, '\\.')} +valid +Pebble`));

    const doctor = await host.cli(['doctor', 'production', '--json']);
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks;
    const certificate = checks.find((c) => c.name === `certificate ${DOMAIN}`);
    assert.equal(certificate?.status, 'ok', JSON.stringify(checks, null, 2));
    assert.match(certificate!.detail, /issued by Pebble.*days left/i);
    for (const port of ['https port', 'challenge port']) assert.match(checks.find((c) => c.name === port)?.detail ?? '', /held by this environment's agent/, port);
  });

  it('a user key file others can read is refused; an expired user certificate is reported by doctor', { timeout: 120_000 }, async (t) => {
    const host = await createHostFixture(t, { build: [] });
    const tlsPort = await freePort();
    const expired = selfSigned({ dir: host.dir, label: 'expired', names: [DOMAIN], notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2020-02-01T00:00:00Z') });
    fs.chmodSync(expired.keyFile, 0o644);
    fs.appendFileSync(path.join(host.repo, 'slipway.yml'), `    tls: { cert_file: ${expired.certFile}, key_file: ${expired.keyFile}, port: ${tlsPort}, http_port: ${host.port} }\n`);

    const refused = await host.cli(['agent', '--env', 'production'], { timeoutMs: 30_000 });
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /the TLS key file .*expired\.key has mode 0644: its group and other users can read it/);
    assert.match(refused.stderr, /chmod 600 .*expired\.key/);
    const loose = await host.cli(['doctor', 'production', '--json']);
    const looseChecks = (JSON.parse(loose.stdout) as { checks: Array<{ name: string; status: string; detail: string; fix?: string }> }).checks;
    assert.equal(looseChecks.find((c) => c.name === 'tls key file')?.status, 'fail');

    fs.chmodSync(expired.keyFile, 0o600);
    const doctor = await host.cli(['doctor', 'production', '--json']);
    assert.equal(doctor.code, 1, 'an expired certificate fails doctor');
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ name: string; status: string; detail: string; fix?: string }> }).checks;
    assert.equal(checks.find((c) => c.name === 'tls key file')?.status, 'ok');
    const certificate = checks.find((c) => c.name === `certificate ${DOMAIN}`);
    assert.equal(certificate?.status, 'fail', JSON.stringify(checks, null, 2));
    assert.match(certificate!.detail, /expired on 2020-02-01T00:00:00.000Z \(issuer notes\.slipway\.test\)/);
    assert.match(certificate!.fix!, /replace .*expired\.pem/);
  });

  it("a user's cert_file and key_file are served; replaced, the new certificate is served from the next connection on, and an open keep-alive connection stays", { timeout: 120_000 }, async (t) => {
    const host = await createHostFixture(t, { build: ['v1'] });
    const [httpPort, tlsPort] = [await freePort(), await freePort()];
    const certs = path.join(host.dir, 'certs');
    fs.mkdirSync(certs);
    const first = selfSigned({ dir: certs, label: 'site', names: [DOMAIN] });
    fs.appendFileSync(path.join(host.repo, 'slipway.yml'), `    tls: { cert_file: ${first.certFile}, key_file: ${first.keyFile}, port: ${tlsPort}, http_port: ${httpPort} }\n`);
    const agent = await host.startAgent();
    const deployed = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
    assert.equal(deployed.code, 0, deployed.stderr);

    // The renewed pair, made elsewhere (as a renewal tool does) and moved over the old files. (Its own
    // subject: a client trusting both finds each one's issuer by name.)
    const next = selfSigned({ dir: fs.mkdtempSync(path.join(host.dir, 'next-')), label: 'site-renewed', names: [DOMAIN] });
    const ca = [first.cert, next.cert];
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => keepAlive.destroy());
    const before = await httpsGet({ port: tlsPort, ca, path: '/version', agent: keepAlive });
    assert.equal(before.body, 'v1');
    const firstSerial = before.serial;
    assert.equal((await httpsGet({ port: tlsPort, ca, path: '/version' })).serial, firstSerial);

    fs.renameSync(next.keyFile, first.keyFile);
    fs.renameSync(next.certFile, first.certFile);
    let fresh = before;
    await waitUntil('a new connection to get the new certificate', async () => (fresh = await httpsGet({ port: tlsPort, ca, path: '/version' })).serial !== firstSerial, 10_000, { explain: () => agent.output() });
    assert.equal(fresh.status, 200);
    assert.equal(fresh.body, 'v1');
    // The connection opened before the change is still open, with the certificate it shook hands with.
    const same = await httpsGet({ port: tlsPort, ca, path: '/version', agent: keepAlive });
    assert.equal(same.reused, true, 'the keep-alive connection was not dropped');
    assert.equal(same.serial, firstSerial);
    assert.equal(same.status, 200);
    assert.match(agent.output(), /TLS certificate .*site\.pem changed: served from the next connection on/);
  });
});
