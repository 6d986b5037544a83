import type { EnvironmentConfig } from '../config/types.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { createBackup, type BackupReason, type BackupRecord } from '../data/index.js';
import type { MaintenanceMode, SwitchResult } from '../runtime/proxy.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Slot } from '../runtime/slots.js';
import type { SignaturePolicy } from '../host/install-release.js';
import type { HostLayout } from '../host/layout.js';
import type { Journal } from '../host/journal.js';
import type { Ledger } from '../host/ledger.js';
import type { PipelineStep } from './pipeline.js';

/** What the agent lends the pipeline: its slots and its proxy. */
export interface UpdateRuntime {
  activeSlot(): Slot | null;
  /** starts the release in the idle slot and waits for it to be healthy */
  startIdleSlot(id: string, manifest: ReleaseManifest): Promise<Slot>;
  /** points the proxy at the slot (atomic for new requests) and drains the one before */
  activate(slot: Slot): Promise<SwitchResult>;
  /** stops routing to any slot (the proxy answers 503): only when no release served before */
  deactivate(): void;
  stopSlot(slot: Slot): Promise<void>;
  /** the slot kept warm in standby for this release, handed over when it still answers its health check; null: start it cold */
  takeStandby(id: string): Promise<{ slot: Slot; since: Date } | null>;
  /** the slot that served before, once the update is done: kept warm in standby or stopped; one line saying which and why */
  retireSlot(slot: Slot): Promise<string>;
  setMaintenance(mode: MaintenanceMode): void;
  maintenance(): MaintenanceMode;
  /** the config values the release runs with, and the required keys that have none */
  appConfig(manifest: ReleaseManifest): Promise<{ values: Record<string, string>; missing: string[] }>;
}

export interface UpdateContext {
  kind: 'deploy' | 'rollback';
  app: string;
  environmentName: string;
  environment: EnvironmentConfig;
  layout: HostLayout;
  ledger: Ledger;
  journal: Journal;
  store: BlobStore;
  signatures: SignaturePolicy;
  runtime: UpdateRuntime;
  deploymentId: number;
  who: string;
  reason: string;
  /** what served before the update (null on a fresh host) */
  from: { id: string; manifest: ReleaseManifest } | null;
  /** the host's previous release before the update, restored if the switch is undone */
  previousIdBefore: string | null;
  to: { id: string; manifest?: ReleaseManifest };
  /** allow a target older than the current release outside a rollback */
  allowOlder: boolean;
  /** rollback or restore: bring this backup's data back before the target starts */
  restoreBackupId?: string;
  /** the restored backup lives in another host's backups folder (production → staging copy) */
  restoreBackupDir?: string;
  /** SQL run against every database after the restore (anonymise a production copy) */
  scrubFile?: string;
  /** the backup this update took before changing anything (step 4) */
  preBackupId?: string;
  /** the data was changed (migrated or restored): undoing the update restores preBackupId */
  dataChanged?: boolean;
  lockToken?: string;
  newSlot?: Slot;
  /** the new slot is the target's warm standby, running since before the update (no cold start, no health window) */
  warmSince?: Date;
  oldSlot?: Slot | null;
  switched?: boolean;
  maintenanceOn?: boolean;
  /** the maintenance mode before the update changed it (an operator's stays on after the update) */
  maintenanceBefore?: MaintenanceMode;
  progress(line: string): void;
}

export type UpdateStep = PipelineStep<UpdateContext>;

/** The environment the data tools run with: the agent's, plus the release's config values (connection URLs). */
export async function dataEnvironment(ctx: UpdateContext, manifest: ReleaseManifest): Promise<Record<string, string>> {
  const { values } = await ctx.runtime.appConfig(manifest);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  return { ...env, ...values };
}

/** A verified backup of the data of one release, taken during an update; the one place the pipeline takes backups. */
export async function backupReleaseData(
  ctx: UpdateContext,
  o: { release: { id: string; manifest: ReleaseManifest }; reason: BackupReason; deploymentId: number | null },
): Promise<BackupRecord> {
  const backup = await createBackup({
    layout: ctx.layout,
    ledger: ctx.ledger,
    environment: ctx.environmentName,
    data: o.release.manifest.runtime.data,
    env: await dataEnvironment(ctx, o.release.manifest),
    releaseId: o.release.id,
    releaseVersion: o.release.manifest.version,
    reason: o.reason,
    deploymentId: o.deploymentId,
  });
  return backup;
}

export function targetManifest(ctx: UpdateContext): ReleaseManifest {
  if (!ctx.to.manifest) throw new Error('the target release has not been fetched yet (pipeline order bug)');
  return ctx.to.manifest;
}
