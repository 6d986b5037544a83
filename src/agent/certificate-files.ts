/**
 * Certificates on disk, and what they say. Obtained ones live under the host root:
 * tls/account.key (the ACME account), tls/<domain>/{cert.pem,key.pem} and the renewal record
 * tls/<domain>/renewal.json (last attempt, last error, next attempt after a failure). Keys are
 * written 0600. A certificate the user manages (`cert_file`, `key_file`) is read where it is,
 * and its key refused when group or others can read it.
 */
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError, usageError } from '../errors.js';
import type { TlsConfig } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';

export interface RenewalRecord {
  lastAttemptAt: string | null;
  lastSuccessAt: string | null;
  /** kept after a later success, so the last problem stays visible; compare its time with lastSuccessAt */
  lastError: { at: string; message: string } | null;
  /** failed attempts in a row (the backoff grows with it) */
  failures: number;
  /** after a failure, no new attempt before this time */
  nextAttemptAt: string | null;
  /** the agent found the key readable by other users (and set it to 0600): a new key is ordered; cleared once it is in */
  keyExposed: { at: string; mode: string } | null;
}

export const NO_RENEWAL: RenewalRecord = { lastAttemptAt: null, lastSuccessAt: null, lastError: null, failures: 0, nextAttemptAt: null, keyExposed: null };

export function accountKeyFile(layout: HostLayout): string {
  return path.join(layout.tlsDir, 'account.key');
}

/** tls/account.json: the account's URL at its directory (the key alone would register again at each order) */
export function accountRecordFile(layout: HostLayout): string {
  return path.join(layout.tlsDir, 'account.json');
}

export function domainFiles(layout: HostLayout, domain: string): { dir: string; cert: string; key: string; renewal: string } {
  const dir = path.join(layout.tlsDir, domain);
  return { dir, cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), renewal: path.join(dir, 'renewal.json') };
}

/** The user's cert_file and key_file, relative to the project file's folder. */
export function userCertificateFiles(tls: Extract<TlsConfig, { kind: 'files' }>, projectDir: string): { cert: string; key: string } {
  return { cert: path.resolve(projectDir, tls.certFile), key: path.resolve(projectDir, tls.keyFile) };
}

/** Writes a file whole (temp file, then rename), owner-only when `secret`. */
export async function writeFileAtomic(file: string, content: string, o: { secret: boolean }): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, content, { mode: o.secret ? 0o600 : 0o644 });
  await fs.rename(temp, file);
}

export async function readRenewal(layout: HostLayout, domain: string): Promise<RenewalRecord> {
  try {
    return { ...NO_RENEWAL, ...(JSON.parse(await fs.readFile(domainFiles(layout, domain).renewal, 'utf8')) as Partial<RenewalRecord>) };
  } catch {
    return { ...NO_RENEWAL };
  }
}

export function writeRenewal(layout: HostLayout, domain: string, record: RenewalRecord): Promise<void> {
  return writeFileAtomic(domainFiles(layout, domain).renewal, JSON.stringify(record, null, 2) + '\n', { secret: false });
}

/** A key file's mode (like 0644) when its group or others may read or write it; null when it is the owner's only. Throws when it cannot be stat'ed. */
export async function looseKeyMode(file: string): Promise<string | null> {
  const { mode } = await fs.stat(file);
  return (mode & 0o077) === 0 ? null : (mode & 0o777).toString(8).padStart(4, '0');
}

/** Refuses a private key file that group or others may read: a leaked key lets anyone pose as the site. */
export async function checkKeyFileMode(file: string): Promise<void> {
  const stat = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
    throw usageError('TLS_KEY_FILE_MISSING', `cannot read the TLS key file ${file} (${error.code ?? error.message})`, { hint: 'check tls.key_file in slipway.yml', cause: error });
  });
  const loose = stat.mode & 0o077;
  if (loose !== 0) {
    const who = [loose & 0o070 ? 'its group' : null, loose & 0o007 ? 'other users' : null].filter(Boolean).join(' and ');
    throw usageError('TLS_KEY_FILE_MODE', `the TLS key file ${file} has mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}: ${who} can read it, and slipway refuses a private key others can read`, {
      hint: `chmod 600 ${file} (and make it owned by the user the agent runs as)`,
    });
  }
}

/** Reads a user-managed pair: the key's mode checked first, then both files. */
export async function readUserPair(files: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  await checkKeyFileMode(files.key);
  const cert = await fs.readFile(files.cert, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw usageError('TLS_CERT_FILE_MISSING', `cannot read the TLS certificate file ${files.cert} (${error.code ?? error.message})`, { hint: 'check tls.cert_file in slipway.yml', cause: error });
  });
  return { cert, key: await fs.readFile(files.key, 'utf8') };
}

/** What a PEM certificate (its leaf) says. */
export interface CertificateFacts {
  issuer: string;
  names: string[];
  notBefore: Date;
  notAfter: Date;
}

export function certificateFacts(pem: string): CertificateFacts {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pem);
  } catch (error) {
    throw new SlipwayError('TLS_CERT_INVALID', `not a PEM certificate: ${(error as Error).message}`, { cause: error });
  }
  const field = (dn: string, key: string) => dn.split('\n').find((line) => line.startsWith(`${key}=`))?.slice(key.length + 1);
  const names = (leaf.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4));
  return {
    issuer: field(leaf.issuer, 'CN') ?? field(leaf.issuer, 'O') ?? leaf.issuer.replace(/\n/g, ', '),
    names: names.length > 0 ? names : [field(leaf.subject, 'CN') ?? ''].filter(Boolean),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
  };
}

/** Renewal is due once less than a third of the certificate's lifetime is left (30 of 90 days for Let's Encrypt). */
export function renewalDueAt(facts: Pick<CertificateFacts, 'notBefore' | 'notAfter'>): Date {
  const lifetime = facts.notAfter.getTime() - facts.notBefore.getTime();
  return new Date(facts.notAfter.getTime() - lifetime / 3);
}
