/** Certificates for TLS tests, made by the system's openssl with chosen validity dates (expired ones included). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface MadeCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** openssl's date form: YYYYMMDDHHMMSSZ */
function opensslDate(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * A self-signed P-256 certificate for `names` in `dir`/<label>.{pem,key}, valid from notBefore
 * (default an hour ago) to notAfter (default in 30 days). The key file is written 0600.
 */
export function selfSigned(o: { dir: string; label: string; names: string[]; notBefore?: Date; notAfter?: Date }): MadeCertificate {
  const work = fs.mkdtempSync(path.join(o.dir, `${o.label}-ca-`));
  const keyFile = path.join(o.dir, `${o.label}.key`);
  const certFile = path.join(o.dir, `${o.label}.pem`);
  const csr = path.join(work, 'req.csr');
  fs.writeFileSync(path.join(work, 'index.txt'), '');
  fs.writeFileSync(path.join(work, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  const config = path.join(work, 'ca.cnf');
  fs.writeFileSync(
    config,
    [`[ca]`, `default_ca = d`, `[d]`, `database = ${work}/index.txt`, `new_certs_dir = ${work}`, `serial = ${work}/serial`, `default_md = sha256`, `policy = p`, `copy_extensions = copy`, `unique_subject = no`, `[p]`, `organizationName = optional`, `commonName = supplied`, ''].join('\n'),
  );
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile], { stdio: 'ignore' });
  fs.chmodSync(keyFile, 0o600);
  const san = o.names.map((name) => (/^\d{1,3}(\.\d{1,3}){3}$/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', `/O=${o.label}/CN=${o.names[0]}`, '-addext', `subjectAltName=${san}`, '-out', csr], { stdio: 'ignore' });
  const notBefore = o.notBefore ?? new Date(Date.now() - 3_600_000);
  const notAfter = o.notAfter ?? new Date(Date.now() + 30 * 86_400_000);
  execFileSync(
    'openssl',
    ['ca', '-batch', '-config', config, '-selfsign', '-keyfile', keyFile, '-in', csr, '-startdate', opensslDate(notBefore), '-enddate', opensslDate(notAfter), '-notext', '-out', certFile],
    { stdio: 'ignore' },
  );
  fs.rmSync(work, { recursive: true, force: true });
  return { certFile, keyFile, cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}
