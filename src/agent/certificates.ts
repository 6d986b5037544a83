/**
 * The agent's certificates: a user-managed pair loaded (and reloaded when its files change),
 * or one certificate per domain obtained over ACME when missing and renewed once a third of
 * its lifetime is left. Each goes into the proxy's SecureContexts, so new connections get it at
 * once and open ones keep theirs. A failed attempt is recorded and retried with a growing
 * delay; the certificate already served stays served while it is valid.
 */
import { promises as fs } from 'node:fs';
import type { TlsConfig } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';
import type { AcmeChallenges } from '../runtime/acme-challenges.js';
import type { SecureContexts } from '../runtime/proxy-tls.js';
import {
  accountKeyFile,
  accountRecordFile,
  certificateFacts,
  domainFiles,
  readRenewal,
  readUserPair,
  renewalDueAt,
  userCertificateFiles,
  writeFileAtomic,
  writeRenewal,
} from './certificate-files.js';

export interface CertificateManagerOptions {
  tls: TlsConfig;
  layout: HostLayout;
  /** the project file's folder: cert_file and key_file are relative to it */
  projectDir: string;
  contexts: SecureContexts;
  challenges: AcmeChallenges;
  log(line: string): void;
  /** the clock (tests move it to make a renewal due) */
  now?: () => Date;
  /** how often certificates are looked at; default 1 h */
  checkIntervalMs?: number;
  /** first delay after a failed attempt, doubled each time up to retryMaxMs; default 5 min and 6 h */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** CA certificates to trust for the ACME directory itself (a private ACME server) */
  directoryCa?: string;
}

/** At most this long, stop() waits for an ACME order in progress (the CA may be slow; the agent must stop). */
const STOP_WAIT_MS = 5_000;

export class CertificateManager {
  private timer: NodeJS.Timeout | undefined;
  /** passes run one after the other; this is the last one asked for */
  private queue: Promise<void> = Promise.resolve();
  private busy = false;
  private stopped = false;
  /** the user's files as last loaded (mtimes), to reload them when they change */
  private loadedFiles = '';

  constructor(private readonly o: CertificateManagerOptions) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /**
   * Before the proxy listens. A user's pair is loaded: a key others can read, a missing file or a
   * key that does not match the certificate is refused (the agent does not start). Certificates
   * obtained earlier are loaded.
   */
  async load(): Promise<void> {
    const { tls } = this.o;
    if (tls.kind === 'files') {
      await this.loadUserFiles();
    } else {
      for (const [index, domain] of tls.domains.entries()) await this.loadObtained(domain, index === 0);
    }
  }

  /** Once the proxy answers challenges: missing and due certificates are ordered now, then checked every hour. */
  start(): void {
    this.schedule(0);
  }

  /** One look at every certificate, after any pass in progress: reload the user's changed files, order missing and due ones. */
  check(): Promise<void> {
    this.queue = this.queue.then(async () => {
      this.busy = true;
      try {
        await this.runPass();
      } catch (error) {
        // A pass never stops the timer: the next one tries again.
        this.o.log(`warning: certificate check failed: ${(error as Error).message}`);
      } finally {
        this.busy = false;
      }
    });
    return this.queue;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.busy) await Promise.race([this.queue.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule(this.o.checkIntervalMs ?? 3_600_000));
    }, delayMs);
    this.timer.unref();
  }

  private async runPass(): Promise<void> {
    const { tls } = this.o;
    if (tls.kind === 'files') {
      await this.loadUserFiles().catch((error: Error) => this.o.log(`warning: TLS certificate files not reloaded, the previous ones stay served: ${error.message}`));
      return;
    }
    for (const [index, domain] of tls.domains.entries()) {
      if (this.stopped) return;
      await this.renewIfDue(domain, index === 0);
    }
  }

  private async loadUserFiles(): Promise<void> {
    const tls = this.o.tls as Extract<TlsConfig, { kind: 'files' }>;
    const files = userCertificateFiles(tls, this.o.projectDir);
    const stamp = (await Promise.all([files.cert, files.key].map((file) => fs.stat(file).then((s) => `${s.mtimeMs}:${s.size}:${s.mode}`, () => 'missing')))).join('|');
    if (stamp === this.loadedFiles) return;
    const pair = await readUserPair(files);
    this.o.contexts.setFallback(pair);
    this.loadedFiles = stamp;
    const facts = certificateFacts(pair.cert);
    if (facts.notAfter <= this.now()) this.o.log(`warning: the TLS certificate ${files.cert} expired on ${facts.notAfter.toISOString()}: browsers refuse it; replace the file (it is reloaded within the hour)`);
  }

  /** A certificate obtained earlier, into the proxy; false when there is none usable. */
  private async loadObtained(domain: string, fallback: boolean): Promise<boolean> {
    const files = domainFiles(this.o.layout, domain);
    try {
      const [cert, key] = await Promise.all([fs.readFile(files.cert, 'utf8'), fs.readFile(files.key, 'utf8')]);
      this.o.contexts.set(domain, { cert, key }, { fallback });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.o.log(`warning: the certificate of ${domain} on disk is not usable (${(error as Error).message}); a new one is ordered`);
      return false;
    }
  }

  private async renewIfDue(domain: string, fallback: boolean): Promise<void> {
    const now = this.now();
    const files = domainFiles(this.o.layout, domain);
    const renewal = await readRenewal(this.o.layout, domain);
    if (renewal.nextAttemptAt !== null && now < new Date(renewal.nextAttemptAt)) return;
    const current = await fs.readFile(files.cert, 'utf8').then(certificateFacts, () => null);
    if (current !== null && now < renewalDueAt(current)) return;

    const tls = this.o.tls as Extract<TlsConfig, { kind: 'acme' }>;
    const attemptAt = now.toISOString();
    try {
      const { createPrivateKey, orderCertificate } = await import('./acme-order.js');
      const accountKey = await this.accountKey(createPrivateKey);
      const account = await fs.readFile(accountRecordFile(this.o.layout), 'utf8').then((text) => JSON.parse(text) as { directoryUrl?: string; url?: string }, () => ({}) as { directoryUrl?: string; url?: string });
      const issued = await orderCertificate({
        directoryUrl: tls.acmeDirectory,
        accountKey,
        ...(account.directoryUrl === tls.acmeDirectory && typeof account.url === 'string' ? { accountUrl: account.url } : {}),
        ...(tls.email === undefined ? {} : { email: tls.email }),
        names: [domain],
        challenges: this.o.challenges,
        ...(this.o.directoryCa === undefined ? {} : { directoryCa: this.o.directoryCa }),
      });
      if (issued.accountUrl !== account.url) await writeFileAtomic(accountRecordFile(this.o.layout), JSON.stringify({ directoryUrl: tls.acmeDirectory, url: issued.accountUrl }) + '\n', { secret: false });
      // Into the proxy first: a pair it refuses is never written over the one on disk.
      this.o.contexts.set(domain, { cert: issued.cert, key: issued.key }, { fallback });
      await writeFileAtomic(files.key, issued.key, { secret: true });
      await writeFileAtomic(files.cert, issued.cert, { secret: false });
      await writeRenewal(this.o.layout, domain, { ...renewal, lastAttemptAt: attemptAt, lastSuccessAt: this.now().toISOString(), failures: 0, nextAttemptAt: null });
      this.o.log(`certificate for ${domain} ${current ? 'renewed' : 'obtained'}, valid until ${certificateFacts(issued.cert).notAfter.toISOString()}`);
    } catch (error) {
      const failures = renewal.failures + 1;
      const delay = Math.min(this.o.retryMaxMs ?? 6 * 3_600_000, (this.o.retryMinMs ?? 5 * 60_000) * 2 ** (failures - 1));
      const message = (error as Error).message;
      await writeRenewal(this.o.layout, domain, { ...renewal, lastAttemptAt: attemptAt, lastError: { at: attemptAt, message }, failures, nextAttemptAt: new Date(now.getTime() + delay).toISOString() });
      const serving = current !== null && now < current.notAfter ? `; the current certificate stays served until ${current.notAfter.toISOString()}` : '';
      this.o.log(`warning: certificate for ${domain} not ${current ? 'renewed' : 'obtained'} (attempt ${failures}, next in ${Math.round(delay / 1000)} s)${serving}: ${message}`);
    }
  }

  private async accountKey(create: () => Promise<string>): Promise<string> {
    const file = accountKeyFile(this.o.layout);
    try {
      return await fs.readFile(file, 'utf8');
    } catch {
      const key = await create();
      await writeFileAtomic(file, key, { secret: true });
      return key;
    }
  }
}
