/**
 * The plan of the update the pipeline is running, built from its context: what the
 * preflight step checks, so that `deploy` refuses exactly what `slipway plan` shows.
 */
import type { UpdateContext } from './context.js';
import { targetManifest } from './context.js';
import { pipelinePlanFacts } from '../plan/gather.js';
import { createUpdatePlan, type UpdatePlan } from '../plan/plan.js';

export async function planForUpdate(ctx: UpdateContext): Promise<UpdatePlan> {
  const target = { ...targetManifest(ctx), id: ctx.to.id };
  const current = ctx.from ? { ...ctx.from.manifest, id: ctx.from.id } : null;
  // The values the agent would start the release with: env file, its environment, defaults.
  const { values } = await ctx.runtime.appConfig(target);
  return createUpdatePlan({
    environment: ctx.environmentName,
    kind: ctx.kind,
    allowOlder: ctx.allowOlder,
    healthWindowMs: ctx.environment.healthWindowMs,
    restoresBackup: Boolean(ctx.restoreBackupId),
    hostConfig: values,
    // A code rollback takes no backup: walking a large uploads folder to size one would slow the rollback for nothing.
    ...(await pipelinePlanFacts({ layout: ctx.layout, store: ctx.store, app: ctx.app, kind: ctx.kind, current, target, backsUp: ctx.kind === 'deploy' || Boolean(ctx.restoreBackupId) })),
  });
}
