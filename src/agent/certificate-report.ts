/**
 * Each certificate of an environment as `status` and `doctor` show it, read from the host's
 * files (the agent records every renewal attempt there), so it is there whether the agent runs or not.
 */
import { promises as fs } from 'node:fs';
import type { TlsConfig } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';
import { certificateFacts, domainFiles, readRenewal, renewalDueAt, userCertificateFiles } from './certificate-files.js';

export interface CertificateView {
  /** the domain (automatic certificates) or the first name of the user's certificate */
  domain: string;
  source: 'acme' | 'files';
  /** the certificate file */
  file: string;
  /** missing: not obtained yet (or the file is gone); unreadable: not a certificate */
  state: 'valid' | 'renewal-due' | 'expired' | 'missing' | 'unreadable';
  issuer: string | null;
  names: string[];
  notBefore: string | null;
  notAfter: string | null;
  /** when the agent renews it (automatic certificates) */
  renewAfter: string | null;
  lastRenewalAt: string | null;
  /** the last failed attempt, kept after a later success (compare `at` with lastRenewalAt) */
  lastError: { at: string; message: string } | null;
  /** after failures: no new attempt before this time */
  nextAttemptAt: string | null;
}

export interface TlsView {
  port: number;
  httpPort: number;
  redirectHttp: boolean;
  certificates: CertificateView[];
}

async function readView(o: { domain: string; source: CertificateView['source']; file: string; now: Date }): Promise<Omit<CertificateView, 'lastRenewalAt' | 'lastError' | 'nextAttemptAt'>> {
  const empty = { domain: o.domain, source: o.source, file: o.file, issuer: null, names: [], notBefore: null, notAfter: null, renewAfter: null };
  let pem: string;
  try {
    pem = await fs.readFile(o.file, 'utf8');
  } catch {
    return { ...empty, state: 'missing' };
  }
  try {
    const facts = certificateFacts(pem);
    const due = renewalDueAt(facts);
    const state = o.now >= facts.notAfter ? 'expired' : o.source === 'acme' && o.now >= due ? 'renewal-due' : 'valid';
    return {
      ...empty,
      domain: o.source === 'files' ? (facts.names[0] ?? o.domain) : o.domain,
      state,
      issuer: facts.issuer,
      names: facts.names,
      notBefore: facts.notBefore.toISOString(),
      notAfter: facts.notAfter.toISOString(),
      renewAfter: o.source === 'acme' ? due.toISOString() : null,
    };
  } catch {
    return { ...empty, state: 'unreadable' };
  }
}

export async function describeTls(o: { tls: TlsConfig; layout: HostLayout; projectDir: string; now?: Date }): Promise<TlsView> {
  const now = o.now ?? new Date();
  const certificates: CertificateView[] = [];
  if (o.tls.kind === 'files') {
    const file = userCertificateFiles(o.tls, o.projectDir).cert;
    certificates.push({ ...(await readView({ domain: file, source: 'files', file, now })), lastRenewalAt: null, lastError: null, nextAttemptAt: null });
  } else {
    for (const domain of o.tls.domains) {
      const renewal = await readRenewal(o.layout, domain);
      const view = await readView({ domain, source: 'acme', file: domainFiles(o.layout, domain).cert, now });
      certificates.push({ ...view, lastRenewalAt: renewal.lastSuccessAt, lastError: renewal.lastError, nextAttemptAt: renewal.nextAttemptAt });
    }
  }
  return { port: o.tls.port, httpPort: o.tls.httpPort, redirectHttp: o.tls.redirectHttp, certificates };
}
