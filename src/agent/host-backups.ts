import { SlipwayError } from '../errors.js';
import type { EnvironmentConfig } from '../config/types.js';
import type { ReleaseManifest } from '../release/manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import type { HostLayout } from '../host/layout.js';
import type { Ledger } from '../host/ledger.js';
import { readEnvFile } from '../host/app-env.js';
import { readInstalledManifest } from '../host/install-release.js';
import { assertAccessoriesRunning } from '../data/accessory-check.js';
import { BACKUP_REASONS, createBackup, getBackup, hasData, pruneBackups, verifyBackup, type BackupReason, type BackupRecord, type VerifyReport } from '../data/index.js';
import { backupKeyFromEnv, type OffsiteCopier } from '../data/offsite.js';
import { nothingConfiguredToBackUp } from '../data/data-errors.js';
import { nothingDeployed } from '../host/current-link.js';

/** What the agent lends its backup work: the host's state, opened at start, and its lock. */
export interface HostBackupsDeps {
  layout: HostLayout;
  environment: EnvironmentConfig;
  processEnv: NodeJS.ProcessEnv;
  ledger(): Ledger;
  /** where off-site copies go (`offsite_store`, else the environment's store) */
  offsiteStore(): BlobStore;
  offsite(): OffsiteCopier | null;
  appConfig(manifest: ReleaseManifest): Promise<{ values: Record<string, string>; missing: string[] }>;
  withHostLock<T>(holder: string, reason: string, work: () => Promise<T>): Promise<T>;
}

/** The agent's backups outside an update: manual, scheduled, verify, off-site copies. */
export class HostBackups {
  constructor(private readonly deps: HostBackupsDeps) {}

  /** The environment the data tools run with: the agent's, plus the release's config values (connection URLs). */
  async dataEnv(manifest: ReleaseManifest): Promise<Record<string, string>> {
    const { values } = await this.deps.appConfig(manifest);
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.deps.processEnv)) if (value !== undefined) env[key] = value;
    return { ...env, ...values };
  }

  /** The data config and environment of the release serving now (what a backup covers). */
  async currentData(): Promise<{ id: string; manifest: ReleaseManifest; env: Record<string, string> }> {
    const { currentId } = this.deps.ledger().getState();
    const manifest = currentId ? await readInstalledManifest(this.deps.layout, currentId) : null;
    if (!currentId || !manifest) throw nothingDeployed({ environment: this.deps.environment.name, why: 'there is no data config to back up' });
    return { id: currentId, manifest, env: await this.dataEnv(manifest) };
  }

  async takeBackup(reason: BackupReason): Promise<BackupRecord> {
    if (!BACKUP_REASONS.includes(reason)) throw new SlipwayError('USAGE', `unknown backup reason "${reason}"`, { exitCode: 2, hint: `one of: ${BACKUP_REASONS.join(', ')}` });
    const current = await this.currentData();
    if (!hasData(current.manifest.runtime.data)) {
      throw nothingConfiguredToBackUp({ version: current.manifest.version });
    }
    await assertAccessoriesRunning({ app: current.manifest.app, environment: this.deps.environment.name, data: current.manifest.runtime.data, doing: 'back up' });
    return createBackup({ layout: this.deps.layout, ledger: this.deps.ledger(), environment: this.deps.environment.name, data: current.manifest.runtime.data, env: current.env, releaseId: current.id, releaseVersion: current.manifest.version, reason });
  }

  /** The environment's backup key, from the host's env file (first) or the agent's environment; read each time, so an edited env file counts. */
  async backupKey(): Promise<Buffer> {
    const envFile = await readEnvFile(this.deps.layout.envFile);
    return backupKeyFromEnv({ environment: this.deps.environment, env: { ...this.deps.processEnv, ...envFile } });
  }

  /** A backup_schedule run: under the host lock like `slipway backup`, pruned per retention, then copied off-site. */
  async scheduledBackup(): Promise<BackupRecord> {
    const backup = await this.deps.withHostLock('slipway agent (backup schedule)', 'scheduled backup', async () => {
      const record = await this.takeBackup('scheduled');
      await pruneBackups({ layout: this.deps.layout, ledger: this.deps.ledger(), policy: this.deps.environment.retention.backups, environment: this.deps.environment.name });
      return record;
    });
    await this.deps.offsite()?.copyPending();
    return backup;
  }

  /** Copies what is pending off-site now and says how it went for `backupId`; null when off-site copies are off. */
  async copyOffsiteNow(backupId: string): Promise<{ ok: true; key: string; keyId: string; store: string } | { ok: false; error: string } | null> {
    const offsite = this.deps.offsite();
    if (!offsite) return null;
    const result = await offsite.copyPending();
    const copy = this.deps.ledger().getBackup(backupId)?.offsite;
    if (copy) return { ok: true, key: copy.key, keyId: copy.keyId, store: this.deps.offsiteStore().description };
    return { ok: false, error: result.failed?.error.message ?? 'it was not copied' };
  }

  async verifyBackupById(id: string): Promise<VerifyReport> {
    const backup = getBackup(this.deps.ledger(), id, { environment: this.deps.environment.name });
    // The backup's own release says where its items go; fall back to the current release's config.
    const manifest = (backup.release && (await readInstalledManifest(this.deps.layout, backup.release.id))) || (await this.currentData()).manifest;
    await assertAccessoriesRunning({ app: manifest.app, environment: this.deps.environment.name, data: manifest.runtime.data, doing: `verify backup ${id}` });
    return verifyBackup({ layout: this.deps.layout, ledger: this.deps.ledger(), backupId: id, data: manifest.runtime.data, env: await this.dataEnv(manifest) });
  }
}
