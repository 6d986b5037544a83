import type { EnvironmentConfig, PipelineStepName } from '../config/types.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { createBackup, type BackupReason, type BackupRecord } from '../data/index.js';
import type { AppRuntime, RunningRelease } from '../runtime/app-runtime.js';
import type { BlobStore } from '../store/blob-store.js';
import type { SignaturePolicy } from '../host/install-release.js';
import type { HostLayout } from '../host/layout.js';
import type { Journal } from '../host/journal.js';
import type { Ledger } from '../host/ledger.js';
import type { MaintenanceWindow } from './maintenance-window.js';
import type { PipelineStep } from './pipeline.js';
import type { PlannedStep, StepPlanFacts, UpdatePlan } from '../plan/plan.js';

/** What the host lends every update: its state, its store and the runtime that runs its releases. */
export interface UpdateHost {
  app: string;
  environmentName: string;
  environment: EnvironmentConfig;
  layout: HostLayout;
  ledger: Ledger;
  journal: Journal;
  store: BlobStore;
  runtime: AppRuntime;
  /** the config values a release runs with, and the required keys that have none */
  appConfig(manifest: ReleaseManifest): Promise<{ values: Record<string, string>; missing: string[] }>;
}

/** A backup brought back by the update (rollback --with-data, restore, a copy of another environment's data). */
export interface DataToRestore {
  backupId: string;
  /** the backup lives in another host's backups folder (production → staging copy) */
  backupDir?: string;
  /** SQL run against every database after the restore (anonymise a production copy) */
  scrubFile?: string;
}

/**
 * What each step did that a later step or its own undo needs: plain facts, written to the
 * step's journal entries, so that crash recovery rebuilds them and runs the same undo.
 */
export interface StepFacts {
  lock?: { token: string };
  backup?: { backupId: string };
  /** written before the data is touched: from here on, undoing the update restores the backup */
  migrate?: { changesData: boolean };
  /** written before the switch: the host's previous release, put back if the switch is undone */
  switch?: { previousIdBefore: string | null; switched?: boolean };
}

/** The releases running for this update: live objects, gone with the agent (recovery starts from a host where nothing runs). */
export interface RunningReleases {
  /** what served when the update started */
  replaced?: RunningRelease | null;
  /** the target, started or taken warm from standby */
  started?: RunningRelease;
  /** the target was warm in standby, running since then (no cold start, no health window) */
  warmSince?: Date;
}

export interface UpdateContext extends UpdateHost {
  kind: 'deploy' | 'rollback';
  deploymentId: number;
  who: string;
  reason: string;
  signatures: SignaturePolicy;
  /** what served before the update (null on a fresh host) */
  from: { id: string; manifest: ReleaseManifest } | null;
  to: { id: string; manifest?: ReleaseManifest };
  /** allow a target older than the current release outside a rollback */
  allowOlder: boolean;
  restore?: DataToRestore;
  /**
   * The backup a fleet rollout took of this host before any host changed: the backup step
   * checks it and makes it this update's backup instead of taking another (deploys only).
   */
  rolloutBackupId?: string;
  facts: StepFacts;
  running: RunningReleases;
  /** the one writer of maintenance during the update */
  maintenance: MaintenanceWindow;
  /** the plan of this update, as `slipway plan` shows it (the preflight step refuses its blockers) */
  plan(): Promise<UpdatePlan>;
  /** writes facts of the running step to the journal (durably) before it acts on them */
  record<S extends keyof StepFacts>(step: S, facts: NonNullable<StepFacts[S]>): Promise<void>;
  progress(line: string): void;
}

/**
 * One step of the update: what it will do (describe), doing it (run), undoing it from ctx.facts
 * (rebuilt from the journal after a crash), and whether the host shows its work in place (isDone).
 */
export interface UpdateStep extends PipelineStep<UpdateContext> {
  name: PipelineStepName;
  /** what it will do for this update, or why it will skip: the plan's line for the step (`slipway plan`, `deploy`) */
  describe(facts: StepPlanFacts): PlannedStep;
}

/** The environment the data tools run with: the agent's, plus the release's config values (connection URLs). */
export async function dataEnvironment(ctx: UpdateHost, manifest: ReleaseManifest): Promise<Record<string, string>> {
  const { values } = await ctx.appConfig(manifest);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  return { ...env, ...values };
}

/** A verified backup of the data of one release, taken during an update; the one place the pipeline takes backups. */
export async function backupReleaseData(
  ctx: UpdateContext,
  o: { release: { id: string; manifest: ReleaseManifest }; reason: BackupReason; deploymentId: number | null },
): Promise<BackupRecord> {
  return createBackup({
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
}

export function targetManifest(ctx: Pick<UpdateContext, 'to'>): ReleaseManifest {
  if (!ctx.to.manifest) throw new Error('the target release has not been fetched yet (pipeline order bug)');
  return ctx.to.manifest;
}

/** The update changes the data: it migrates (a deploy whose release has a migrate command) or restores a backup. */
export function changesData(ctx: Pick<UpdateContext, 'kind' | 'restore' | 'to'>): boolean {
  if (ctx.restore) return true;
  return ctx.kind === 'deploy' && targetManifest(ctx).migrates;
}
