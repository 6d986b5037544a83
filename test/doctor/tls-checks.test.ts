// doctor's TLS checks read the host's files: a certificate not obtained yet, one due for renewal
// whose last attempt failed, a valid one, and a key file others can read.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { domainFiles, writeRenewal } from '../../src/agent/certificate-files.js';
import type { TlsConfig } from '../../src/config/types.js';
import { checkTls } from '../../src/doctor/tls-checks.js';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { hasOpenssl, selfSigned } from '../helpers/self-signed.js';
import { tempDir } from '../helpers/temp-dir.js';

const DAY = 86_400_000;

describe('doctor: certificates', { skip: hasOpenssl() ? false : 'openssl is not installed (it makes the test certificates)' }, () => {
  it('missing, renewal due with a failed attempt, valid: each said with issuer, expiry and the last error', async (t) => {
    const layout = hostLayout(tempDir(t));
    await ensureHostLayout(layout);
    const tls: TlsConfig = { kind: 'acme', domains: ['a.example.test', 'b.example.test', 'c.example.test'], acmeDirectory: 'https://acme.example.test/dir', port: 443, httpPort: 80, redirectHttp: true };
    const now = new Date();
    // b: 90 days of life, 20 left (renewal due after 60), its last attempt failed.
    const b = domainFiles(layout, 'b.example.test');
    fs.mkdirSync(b.dir, { recursive: true });
    const due = selfSigned({ dir: b.dir, label: 'cert', names: ['b.example.test'], notBefore: new Date(now.getTime() - 70 * DAY), notAfter: new Date(now.getTime() + 20 * DAY) });
    fs.renameSync(due.certFile, b.cert);
    await writeRenewal(layout, 'b.example.test', { lastAttemptAt: now.toISOString(), lastSuccessAt: null, lastError: { at: now.toISOString(), message: 'the CA said: connection refused' }, failures: 2, nextAttemptAt: new Date(now.getTime() + 600_000).toISOString(), keyExposed: null });
    // c: fresh.
    const c = domainFiles(layout, 'c.example.test');
    fs.mkdirSync(c.dir, { recursive: true });
    fs.renameSync(selfSigned({ dir: c.dir, label: 'cert', names: ['c.example.test'] }).certFile, c.cert);

    const checks = await checkTls({ tls, layout, projectDir: layout.root, environment: 'production', now });
    const byName = Object.fromEntries(checks.map((check) => [check.name, check]));
    assert.equal(byName['certificate a.example.test']!.status, 'warn');
    assert.match(byName['certificate a.example.test']!.detail, /not obtained yet/);
    assert.equal(byName['certificate b.example.test']!.status, 'warn');
    assert.match(byName['certificate b.example.test']!.detail, /issued by b\.example\.test, valid until .* \((19|20) days left\), renewal due; last renewal failed at .*: the CA said: connection refused/);
    // What the agent does next, as agent/certificates.ts does it: its backoff, and an attempt at its start.
    assert.match(byName['certificate b.example.test']!.fix!, /retries on its own \(after 5 min, then 10, 20… up to 6 h\) and at once when the agent is restarted, unless it tried less than 5 minutes before/);
    assert.equal(byName['certificate c.example.test']!.status, 'ok');
    assert.match(byName['certificate c.example.test']!.detail, /valid until .* \((29|30) days left\)$/);
  });

  it('a user key file others can read fails, with chmod 600 as the fix', async (t) => {
    const dir = tempDir(t);
    const layout = hostLayout(path.join(dir, 'host'));
    const made = selfSigned({ dir, label: 'site', names: ['site.example.test'] });
    fs.chmodSync(made.keyFile, 0o640);
    const tls: TlsConfig = { kind: 'files', certFile: 'site.pem', keyFile: 'site.key', port: 443, httpPort: 80, redirectHttp: true };
    const checks = await checkTls({ tls, layout, projectDir: dir, environment: 'production' });
    const key = checks.find((check) => check.name === 'tls key file')!;
    assert.equal(key.status, 'fail');
    assert.match(key.detail, /has mode 0640: its group can read it/);
    assert.equal(key.fix, `chmod 600 ${made.keyFile} (and make it owned by the user the agent runs as)`);
    assert.equal(checks.find((check) => check.name === 'certificate site.example.test')?.status, 'ok');
  });
});
