import { SlipwayError } from '../errors.js';
import { runPipeline, type PipelineEvent } from './pipeline.js';
import { lockStep } from './steps/lock.js';
import { fetchStep } from './steps/fetch.js';
import { preflightStep } from './steps/preflight.js';
import { backupStep } from './steps/backup.js';
import { maintenanceStep } from './steps/maintenance.js';
import { migrateStep, runCommand } from './steps/migrate.js';
import { startStep } from './steps/start.js';
import { switchStep } from './steps/switch.js';
import { watchStep } from './steps/watch.js';
import { finishStep } from './steps/finish.js';
import { releaseDir } from '../host/layout.js';
import { hostDiskFullError, releaseDiskReserve } from '../host/disk-reserve.js';
import { readLock } from '../host/lock.js';
import { isDiskFull } from '../util/disk-full.js';
import { serviceEnvironment } from '../host/app-env.js';
import { primaryService } from '../runtime/slots.js';
import type { UpdateContext, UpdateStep } from './context.js';

/** The update pipeline of DESIGN.md, steps 1–10. Deploy and rollback share it. */
export const UPDATE_STEPS: UpdateStep[] = [
  lockStep,
  fetchStep,
  preflightStep,
  backupStep,
  maintenanceStep,
  migrateStep,
  startStep,
  switchStep,
  watchStep,
  finishStep,
];

export type UpdateEvent = PipelineEvent | { type: 'progress'; line: string };

export interface UpdateOutcome {
  ok: boolean;
  deploymentId: number;
  error?: SlipwayError;
  undoFailures: string[];
}

/** Runs one update through the pipeline, recording it in the ledger. Never throws for a failed update. */
export async function runUpdate(ctx: UpdateContext, onEvent: (event: UpdateEvent) => void): Promise<UpdateOutcome> {
  const result = await runPipeline({
    steps: UPDATE_STEPS,
    ctx,
    deploymentId: ctx.deploymentId,
    journal: ctx.journal,
    ledger: ctx.ledger,
    onEvent,
    runHooks: (when, step) => runHooks(ctx, when, step),
    // The undo gets the room reserved for it on the disk.
    onFailure: () => freeDiskReserve(ctx),
  });
  if (result.ok) {
    await recordOutcome(ctx, { outcome: 'succeeded' });
    return { ok: true, deploymentId: ctx.deploymentId, undoFailures: [] };
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
  return { ok: false, deploymentId: ctx.deploymentId, error, undoFailures: result.undoFailures };
}

/** Frees the disk reserve (disk-reserve.ts) for this update, unless another update holds the host and relies on it. */
async function freeDiskReserve(ctx: UpdateContext): Promise<void> {
  if (ctx.lockToken || !(await readLock(ctx.layout.lockFile))) await releaseDiskReserve(ctx.layout);
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

/** The app's own hooks (slipway.yml `hooks`), run from the target release folder once it is on disk. */
async function runHooks(ctx: UpdateContext, when: 'before' | 'after', step: string): Promise<void> {
  const manifest = ctx.to.manifest;
  if (!manifest) return;
  const hooks = manifest.runtime.hooks.filter((h) => h.when === when && h.step === step);
  if (hooks.length === 0) return;
  const { values } = await ctx.runtime.appConfig(manifest);
  const env = serviceEnvironment({
    processEnv: process.env,
    secrets: ctx.environment,
    appConfig: values,
    serviceEnv: primaryService(manifest.runtime.services).env,
    extra: { SLIPWAY_ENV: ctx.environmentName, SLIPWAY_RELEASE_ID: ctx.to.id, SLIPWAY_VERSION: manifest.version, SLIPWAY_HOOK: `${when}_${step}` },
  });
  for (const hook of hooks) {
    for (const command of hook.commands) {
      ctx.progress(`hook ${when}_${step}: ${command}`);
      await runCommand(ctx, { command, cwd: releaseDir(ctx.layout, ctx.to.id), env, timeoutMs: 10 * 60_000 });
    }
  }
}
