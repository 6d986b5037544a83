import os from 'node:os';
import { SlipwayError } from '../errors.js';
import { hostDiskFullError, releaseDiskReserve } from '../host/disk-reserve.js';
import type { DeploymentKind } from '../host/ledger.js';
import type { SignaturePolicy } from '../host/install-release.js';
import { readInstalledManifest } from '../host/install-release.js';
import { readLock } from '../host/lock.js';
import { isDiskFull } from '../util/disk-full.js';
import { runPipeline, type PipelineEvent, type PipelineFaults } from './pipeline.js';
import { MaintenanceWindow } from './maintenance-window.js';
import type { StepFacts, UpdateContext, UpdateHost } from './context.js';
import { UPDATE_STEPS } from './steps/index.js';
import { planForUpdate } from './plan-update.js';

export type UpdateEvent = PipelineEvent | { type: 'progress'; line: string };

export interface UpdateOutcome {
  ok: boolean;
  deploymentId: number;
  error?: SlipwayError;
  undoFailures: string[];
  /** the target's version, once known */
  version?: string;
}

export interface UpdateRequest {
  releaseId: string;
  /** the version the caller resolved in the store, for the record before the release is on disk */
  version?: string;
  who?: string;
  reason?: string;
  allowOlder?: boolean;
  /** bring this backup's data back before the target starts (rollback --with-data, restore, data copy) */
  restoreBackupId?: string;
  restoreBackupDir?: string;
  scrubFile?: string;
  /** what history calls it when it is not the update's own kind (a rollback with data, a restore) */
  recordAs?: DeploymentKind;
  /** a deploy in a fleet rollout: the backup the rollout took of this host first, for the backup step to use (steps/backup.ts) */
  rolloutBackupId?: string;
}

export interface RunUpdateOptions {
  host: UpdateHost;
  kind: 'deploy' | 'rollback';
  request: UpdateRequest;
  signatures: SignaturePolicy;
  emit(event: UpdateEvent): void;
  faults?: PipelineFaults;
}

/**
 * Records one update in the ledger and runs it through the pipeline. Throws only when the
 * update cannot even start (nothing changed); a failed update is an outcome, undone.
 */
export async function runUpdate(o: RunUpdateOptions): Promise<UpdateOutcome> {
  const ctx = await beginUpdate(o);
  const result = await runPipeline({
    steps: [...UPDATE_STEPS],
    ctx,
    deploymentId: ctx.deploymentId,
    journal: ctx.journal,
    ledger: ctx.ledger,
    onEvent: o.emit,
    runHooks: (when, step) => runHooks(ctx, when, step),
    hasHooks: (step) => (ctx.to.manifest?.runtime.hooks ?? []).some((h) => h.step === step),
    // The undo gets the room reserved for it on the disk.
    onFailure: () => freeDiskReserve(ctx),
    factsOf: (step) => ctx.facts[step as keyof StepFacts],
    ...(o.faults ? { faults: o.faults } : {}),
  });
  const version = ctx.to.manifest?.version;
  if (result.ok) {
    await recordOutcome(ctx, { outcome: 'succeeded' });
    return { ok: true, deploymentId: ctx.deploymentId, undoFailures: [], ...(version ? { version } : {}) };
  }
  const error =
    result.error instanceof SlipwayError
      ? result.error
      : isDiskFull(result.error)
        ? hostDiskFullError(ctx.layout.root, String((result.error as Error)?.message ?? result.error), result.error)
        : new SlipwayError('UPDATE_FAILED', String((result.error as Error)?.message ?? result.error), { cause: result.error });
  const rolledBack = result.undoFailures.length === 0;
  await recordOutcome(ctx, {
    outcome: rolledBack ? 'rolled-back' : 'failed',
    error: `${result.failedStep}: ${error.message}${rolledBack ? '' : `; undo problems: ${result.undoFailures.join('; ')}`}`,
  });
  return { ok: false, deploymentId: ctx.deploymentId, error, undoFailures: result.undoFailures, ...(version ? { version } : {}) };
}

/** Everything that can fail before the update starts is read before it is recorded. */
async function beginUpdate(o: RunUpdateOptions): Promise<UpdateContext> {
  const { host, kind, request } = o;
  const state = host.ledger.getState();
  const serving = host.runtime.active();
  // A running release's manifest was checked when it started: reading a large one again costs more than a warm rollback.
  const fromManifest = !state.currentId ? null : serving?.releaseId === state.currentId ? serving.manifest : await readInstalledManifest(host.layout, state.currentId);
  const warm = host.runtime.inStandby();
  const who = request.who ?? os.userInfo().username;
  const reason = request.reason ?? kind;
  let deploymentId: number;
  try {
    deploymentId = host.ledger.startDeployment({
      kind: request.recordAs ?? kind,
      fromId: fromManifest ? state.currentId : null,
      toId: request.releaseId,
      fromVersion: fromManifest?.version ?? null,
      toVersion: host.ledger.getRelease(request.releaseId)?.version ?? request.version ?? null,
      reason,
      who,
    });
  } catch (error) {
    // Nothing has changed yet: say why in the user's terms (a full disk is the likely one).
    if (isDiskFull(error)) throw hostDiskFullError(host.layout.root, 'the update cannot even be recorded, so nothing was changed', error);
    throw error;
  }
  const facts: StepFacts = {};
  const ctx: UpdateContext = {
    ...host,
    kind,
    deploymentId,
    who,
    reason,
    signatures: o.signatures,
    from: fromManifest && state.currentId ? { id: state.currentId, manifest: fromManifest } : null,
    to: warm?.releaseId === request.releaseId ? { id: request.releaseId, manifest: warm.manifest } : { id: request.releaseId },
    allowOlder: Boolean(request.allowOlder),
    ...(request.restoreBackupId
      ? { restore: { backupId: request.restoreBackupId, ...(request.restoreBackupDir ? { backupDir: request.restoreBackupDir } : {}), ...(request.scrubFile ? { scrubFile: request.scrubFile } : {}) } }
      : {}),
    ...(kind === 'deploy' && request.rolloutBackupId ? { rolloutBackupId: request.rolloutBackupId } : {}),
    facts,
    running: {},
    maintenance: new MaintenanceWindow(host.runtime),
    plan: () => planForUpdate(ctx),
    record: (step, stepFacts) => recordFacts(host, deploymentId, facts, step, stepFacts),
    progress: (line) => o.emit({ type: 'progress', line }),
  };
  return ctx;
}

/** A step's facts, kept for its undo and written to the journal (durably) before the step acts on them. */
async function recordFacts<S extends keyof StepFacts>(host: UpdateHost, deploymentId: number, facts: StepFacts, step: S, stepFacts: NonNullable<StepFacts[S]>): Promise<void> {
  facts[step] = { ...facts[step], ...stepFacts } as StepFacts[S];
  await host.journal.append({ deployment: deploymentId, step, phase: 'facts', data: { ...facts[step] } });
}

/** Frees the disk reserve (disk-reserve.ts) for this update, unless another update holds the host and relies on it. */
async function freeDiskReserve(ctx: UpdateContext): Promise<void> {
  if (ctx.facts.lock || !(await readLock(ctx.layout.lockFile))) await releaseDiskReserve(ctx.layout);
}

/** The outcome reaches the ledger even on a full disk: the reserve makes room for it. */
async function recordOutcome(ctx: UpdateContext, outcome: Parameters<UpdateContext['ledger']['finishDeployment']>[1]): Promise<void> {
  try {
    ctx.ledger.finishDeployment(ctx.deploymentId, outcome);
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    await freeDiskReserve(ctx);
    ctx.ledger.finishDeployment(ctx.deploymentId, outcome);
  }
}

/** The app's own hooks (slipway.yml `hooks`), run from the target release once it is on disk. */
async function runHooks(ctx: UpdateContext, when: 'before' | 'after', step: string): Promise<void> {
  const manifest = ctx.to.manifest;
  if (!manifest) return;
  const hooks = manifest.runtime.hooks.filter((h) => h.when === when && h.step === step);
  for (const hook of hooks) {
    for (const command of hook.commands) {
      ctx.progress(`hook ${when}_${step}: ${command}`);
      await ctx.runtime.runCommand({
        release: { id: ctx.to.id, manifest },
        command,
        extraEnv: { SLIPWAY_ENV: ctx.environmentName, SLIPWAY_RELEASE_ID: ctx.to.id, SLIPWAY_VERSION: manifest.version, SLIPWAY_HOOK: `${when}_${step}` },
        timeoutMs: HOOK_TIMEOUT_MS,
        onLine: (line) => ctx.progress(`  | ${line}`),
      });
    }
  }
}

const HOOK_TIMEOUT_MS = 10 * 60_000;

