/**
 * The agent's certificates: a user-managed pair loaded (and reloaded when its files change),
 * or one certificate per domain obtained over ACME when missing and renewed once a third of
 * its lifetime is left. Each goes into the proxy's SecureContexts, so new connections get it at
 * once and open ones keep theirs. A failed attempt is recorded and retried with a growing
 * delay; the certificate already served stays served while it is valid.
 */
import { promises as fs, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { TlsConfig } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';
import type { AcmeChallenges } from '../runtime/acme-challenges.js';
import type { SecureContexts } from '../runtime/proxy-tls.js';
import {
  accountKeyFile,
  accountRecordFile,
  certificateFacts,
  looseKeyMode,
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
/** A change to the user's files is read once they have been quiet this long (a renewal tool writes the certificate, then the key). */
const FILE_SETTLE_MS = 300;

export class CertificateManager {
  private timer: NodeJS.Timeout | undefined;
  /** passes run one after the other; this is the last one asked for */
  private queue: Promise<void> = Promise.resolve();
  private busy = false;
  private stopped = false;
  /** the user's files as last loaded (mtimes), to reload them when they change */
  private loadedFiles = '';
  /** watchers of the folders of the user's files: a change is reloaded within a second, not at the next hourly look */
  private watchers: FSWatcher[] = [];
  private settleTimer: NodeJS.Timeout | undefined;
  /** set by start(): the first pass may retry before a saved backoff ends (see renewIfDue) */
  private startPass = false;

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
      await this.repairAccountKey();
      for (const [index, domain] of tls.domains.entries()) await this.loadObtained(domain, index === 0);
    }
  }

  /**
   * Once the proxy answers challenges: missing and due certificates are ordered now, then checked
   * every hour, and sooner when a failed attempt's retry comes first. The user's files are watched.
   */
  start(): void {
    this.startPass = true;
    if (this.o.tls.kind === 'files') this.watchUserFiles();
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
    clearTimeout(this.settleTimer);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
    if (this.busy) await Promise.race([this.queue.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, STOP_WAIT_MS).unref())]);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.check()
        .then(() => this.nextDelay())
        .then(
          (next) => this.schedule(next),
          () => this.schedule(this.checkInterval()),
        );
    }, delayMs);
    this.timer.unref();
  }

  private checkInterval(): number {
    return this.o.checkIntervalMs ?? 3_600_000;
  }

  private retryMin(): number {
    return this.o.retryMinMs ?? 5 * 60_000;
  }

  /**
   * Until the next look: the regular interval, or less when a failed attempt's retry time (its
   * backoff: 5 min, 10, 20… up to 6 h) comes first, so retries happen when the backoff says.
   */
  private async nextDelay(): Promise<number> {
    let next = this.checkInterval();
    if (this.o.tls.kind !== 'acme') return next;
    const now = this.now().getTime();
    for (const domain of this.o.tls.domains) {
      const { nextAttemptAt } = await readRenewal(this.o.layout, domain);
      if (nextAttemptAt === null) continue;
      // Never sooner than a second (or the first backoff step, if shorter) apart: a record in the past cannot make a busy loop.
      next = Math.min(next, Math.max(Math.min(1000, this.retryMin()), Date.parse(nextAttemptAt) - now));
    }
    return next;
  }

  private async runPass(): Promise<void> {
    const { tls } = this.o;
    const atStart = this.startPass;
    this.startPass = false;
    if (tls.kind === 'files') {
      await this.loadUserFiles().catch((error: Error) => this.o.log(`warning: TLS certificate files not reloaded, the previous ones stay served: ${error.message}`));
      return;
    }
    for (const [index, domain] of tls.domains.entries()) {
      if (this.stopped) return;
      await this.renewIfDue(domain, { fallback: index === 0, atStart });
    }
  }

  /**
   * The folders of cert_file and key_file, watched: a renewal tool that writes new files (or moves
   * a link, as certbot's live/ folder does) gets them served at once. The hourly look stays, for
   * file systems that do not report changes.
   */
  private watchUserFiles(): void {
    const files = userCertificateFiles(this.o.tls as Extract<TlsConfig, { kind: 'files' }>, this.o.projectDir);
    const names = new Set([path.basename(files.cert), path.basename(files.key)]);
    for (const dir of new Set([path.dirname(files.cert), path.dirname(files.key)])) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => {
          if (name !== null && !names.has(name.toString())) return;
          clearTimeout(this.settleTimer);
          this.settleTimer = setTimeout(() => void this.check(), FILE_SETTLE_MS);
          this.settleTimer.unref();
        });
        watcher.on('error', () => watcher.close());
        this.watchers.push(watcher);
      } catch (error) {
        this.o.log(`warning: cannot watch ${dir} (${(error as Error).message}): a changed certificate file is reloaded within the hour`);
      }
    }
  }

  private async loadUserFiles(): Promise<void> {
    const tls = this.o.tls as Extract<TlsConfig, { kind: 'files' }>;
    const files = userCertificateFiles(tls, this.o.projectDir);
    const stamp = (await Promise.all([files.cert, files.key].map((file) => fs.stat(file).then((s) => `${s.mtimeMs}:${s.size}:${s.mode}`, () => 'missing')))).join('|');
    if (stamp === this.loadedFiles) return;
    const pair = await readUserPair(files);
    this.o.contexts.setFallback(pair);
    const reloaded = this.loadedFiles !== '';
    this.loadedFiles = stamp;
    const facts = certificateFacts(pair.cert);
    if (reloaded) this.o.log(`TLS certificate ${files.cert} changed: served from the next connection on (valid until ${facts.notAfter.toISOString()}); open connections keep the previous one`);
    if (facts.notAfter <= this.now()) this.o.log(`warning: the TLS certificate ${files.cert} expired on ${facts.notAfter.toISOString()}: browsers refuse it; replace the file (it is served as soon as it changes)`);
  }

  /**
   * A certificate obtained earlier, into the proxy; false when there is none usable.
   *
   * Its key was written 0600. Found readable by group or others (a restore or a copy that lost the
   * mode, a chmod -R), it is repaired, not refused: chmod 600 at once, the certificate stays served
   * (refusing it would take the site down until a new order succeeds, and an order can fail for
   * hours), and a new certificate with a new key is ordered right away, since the old key may have
   * been read. The record says so until the new one is in (doctor shows it). A key that cannot be
   * repaired (owned by another user) is not served; a new one is ordered.
   */
  private async loadObtained(domain: string, fallback: boolean): Promise<boolean> {
    const files = domainFiles(this.o.layout, domain);
    try {
      const loose = await looseKeyMode(files.key);
      if (loose !== null) {
        const renewal = await readRenewal(this.o.layout, domain);
        await writeRenewal(this.o.layout, domain, { ...renewal, keyExposed: { at: this.now().toISOString(), mode: loose } });
        await fs.chmod(files.key, 0o600);
        this.o.log(`warning: the key of ${domain}'s certificate (${files.key}) had mode ${loose}, readable by other users: set to 0600, and a new certificate with a new key is ordered now`);
      }
      const [cert, key] = await Promise.all([fs.readFile(files.cert, 'utf8'), fs.readFile(files.key, 'utf8')]);
      this.o.contexts.set(domain, { cert, key }, { fallback });
      const { notAfter } = certificateFacts(cert);
      // Served meanwhile: a client refuses it as it would refuse no certificate, and a browser lets a person see why.
      if (notAfter <= this.now()) this.o.log(`warning: the certificate of ${domain} expired on ${notAfter.toISOString()}; it is served until the new one, ordered now, is in`);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.o.log(`warning: the certificate of ${domain} on disk is not usable (${(error as Error).message}); a new one is ordered`);
      return false;
    }
  }

  private async renewIfDue(domain: string, o: { fallback: boolean; atStart: boolean }): Promise<void> {
    const { fallback } = o;
    const now = this.now();
    const files = domainFiles(this.o.layout, domain);
    const renewal = await readRenewal(this.o.layout, domain);
    // An agent's start retries before the backoff ends: whoever fixed DNS or the firewall and
    // restarts the agent expects an attempt now (doctor's hint says so). Not when the last attempt
    // is younger than the first backoff step: an agent restarted in a loop (a crash, systemd's
    // Restart=) would otherwise ask the CA at every start and soon reach its limit on failed
    // validations (Let's Encrypt: 5 per name per hour), which blocks even the attempt after the fix.
    const waiting = renewal.nextAttemptAt !== null && now < new Date(renewal.nextAttemptAt);
    const retryAtStart = o.atStart && (renewal.lastAttemptAt === null || now.getTime() - Date.parse(renewal.lastAttemptAt) >= this.retryMin());
    if (waiting && !retryAtStart) return;
    const current = await fs.readFile(files.cert, 'utf8').then(certificateFacts, () => null);
    if (current !== null && now < renewalDueAt(current) && renewal.keyExposed === null) return;

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
        // Kept at once, so that an order that fails leaves an account the next attempt uses.
        onAccount: (url) => writeFileAtomic(accountRecordFile(this.o.layout), JSON.stringify({ directoryUrl: tls.acmeDirectory, url }) + '\n', { secret: false }),
      });
      // Into the proxy first: a pair it refuses is never written over the one on disk.
      this.o.contexts.set(domain, { cert: issued.cert, key: issued.key }, { fallback });
      await writeFileAtomic(files.key, issued.key, { secret: true });
      await writeFileAtomic(files.cert, issued.cert, { secret: false });
      await writeRenewal(this.o.layout, domain, { ...renewal, lastAttemptAt: attemptAt, lastSuccessAt: this.now().toISOString(), failures: 0, nextAttemptAt: null, keyExposed: null });
      this.o.log(`certificate for ${domain} ${current ? 'renewed' : 'obtained'}, valid until ${certificateFacts(issued.cert).notAfter.toISOString()}`);
    } catch (error) {
      const failures = renewal.failures + 1;
      const delay = Math.min(this.o.retryMaxMs ?? 6 * 3_600_000, this.retryMin() * 2 ** (failures - 1));
      const message = (error as Error).message;
      // The delay counts from the failure, not from the attempt's start (an order can take a minute).
      await writeRenewal(this.o.layout, domain, { ...renewal, lastAttemptAt: attemptAt, lastError: { at: attemptAt, message }, failures, nextAttemptAt: new Date(this.now().getTime() + delay).toISOString() });
      const serving = current !== null && now < current.notAfter ? `; the current certificate stays served until ${current.notAfter.toISOString()}` : '';
      this.o.log(`warning: certificate for ${domain} not ${current ? 'renewed' : 'obtained'} (attempt ${failures}, next in ${Math.round(delay / 1000)} s)${serving}: ${message}`);
    }
  }

  /**
   * The ACME account's key, repaired like a certificate's (loadObtained) but kept: it lets its
   * holder act for the account (order, revoke), not pose as the site.
   */
  private async repairAccountKey(): Promise<void> {
    const file = accountKeyFile(this.o.layout);
    const loose = await looseKeyMode(file).catch(() => null);
    if (loose === null) return;
    await fs.chmod(file, 0o600).then(
      () => this.o.log(`warning: the ACME account key ${file} had mode ${loose}, readable by other users: set to 0600`),
      (error: Error) => this.o.log(`warning: the ACME account key ${file} has mode ${loose}, readable by other users, and cannot be changed (${error.message}): chmod 600 it`),
    );
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
