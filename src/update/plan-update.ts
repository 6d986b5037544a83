/**
 * The plan of an update, built from the steps' own descriptions: what `slipway plan` and
 * `deploy` print is what the pipeline's steps decide, and the preflight step refuses exactly
 * what the plan shows.
 */
import { gatherPlanInput, pipelinePlanFacts, type PlanUpdateOptions } from '../plan/gather.js';
import { createUpdatePlan, type PlannedStep, type StepPlanFacts, type UpdatePlan, type UpdatePlanInput } from '../plan/plan.js';
import { targetManifest, type UpdateContext } from './context.js';
import { UPDATE_STEPS } from './steps/index.js';

/** Each step's line, in pipeline order. */
export function describeSteps(facts: StepPlanFacts): PlannedStep[] {
  return UPDATE_STEPS.map((step) => step.describe(facts));
}

export function planFromInput(input: UpdatePlanInput): UpdatePlan {
  return createUpdatePlan(input, describeSteps);
}

/** `slipway plan` and `deploy`'s plan: read from the host and the store. */
export async function planUpdate(o: PlanUpdateOptions): Promise<UpdatePlan> {
  return planFromInput(await gatherPlanInput(o));
}

/** The plan of the update the pipeline is running, built from its context. */
export async function planForUpdate(ctx: UpdateContext): Promise<UpdatePlan> {
  const target = { ...targetManifest(ctx), id: ctx.to.id };
  const current = ctx.from ? { ...ctx.from.manifest, id: ctx.from.id } : null;
  // The values the agent would start the release with: env file, its environment, defaults.
  const { values } = await ctx.appConfig(target);
  return planFromInput({
    environment: ctx.environmentName,
    kind: ctx.kind,
    allowOlder: ctx.allowOlder,
    healthWindowMs: ctx.environment.healthWindowMs,
    restoresBackup: Boolean(ctx.restore),
    hostConfig: values,
    // A code rollback takes no backup: walking a large uploads folder to size one would slow the rollback for nothing.
    ...(await pipelinePlanFacts({ layout: ctx.layout, store: ctx.store, app: ctx.app, kind: ctx.kind, current, target, backsUp: ctx.kind === 'deploy' || Boolean(ctx.restore) })),
  });
}
