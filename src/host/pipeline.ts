import { SlipwayError } from '../errors.js';
import type { Journal } from './journal.js';
import type { Ledger } from './ledger.js';

/**
 * A pipeline step: what it does, how to undo it, and how to ask the real host
 * whether it is already done (for resuming after a crash, not only the journal).
 */
export interface PipelineStep<C> {
  name: string;
  run(ctx: C): Promise<StepResult | void>;
  undo?(ctx: C): Promise<string | void>;
  isDone?(ctx: C): Promise<boolean>;
}

export interface StepResult {
  outcome: 'done' | 'skipped';
  /** one short line shown beside the step, e.g. "not configured" */
  detail?: string;
}

export type PipelineEvent =
  | { type: 'step-begin'; name: string }
  | { type: 'step-end'; name: string; outcome: 'done' | 'skipped' | 'failed'; ms: number; detail?: string }
  | { type: 'undo'; name: string; outcome: 'undone' | 'failed'; detail?: string };

export type PipelineResult =
  | { ok: true }
  | { ok: false; failedStep: string; error: unknown; undoFailures: string[] };

export interface RunPipelineOptions<C> {
  steps: PipelineStep<C>[];
  ctx: C;
  deploymentId: number;
  journal: Journal;
  ledger: Ledger;
  onEvent(event: PipelineEvent): void;
  /** runs the app's hooks around a step ('before' | 'after') */
  runHooks?(when: 'before' | 'after', step: string): Promise<void>;
}

/**
 * Test-only fault injection: with SLIPWAY_TEST_HOOKS=1 and SLIPWAY_TEST_CRASH_AT=<step>,
 * the process kills itself with SIGKILL right after that step did its work and
 * before the journal records its end: the worst moment to die.
 */
function crashHookFor(step: string): void {
  if (process.env.SLIPWAY_TEST_HOOKS === '1' && process.env.SLIPWAY_TEST_CRASH_AT === step) {
    process.kill(process.pid, 'SIGKILL');
  }
}

/**
 * Runs the steps in order, journaling before and after each. When one fails,
 * the steps already run (and the failing one, which may have half-happened)
 * are undone in reverse order. Undo failures are collected, never thrown.
 */
export async function runPipeline<C>(o: RunPipelineOptions<C>): Promise<PipelineResult> {
  const begun: PipelineStep<C>[] = [];
  for (const step of o.steps) {
    o.onEvent({ type: 'step-begin', name: step.name });
    await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'begin' });
    o.ledger.startStep(o.deploymentId, step.name);
    begun.push(step);
    const started = performance.now();
    try {
      if (o.runHooks) await o.runHooks('before', step.name);
      const result = (await step.run(o.ctx)) ?? { outcome: 'done' as const };
      if (o.runHooks) await o.runHooks('after', step.name);
      crashHookFor(step.name);
      const ms = Math.round(performance.now() - started);
      await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'end', outcome: result.outcome });
      o.ledger.finishStep(o.deploymentId, step.name, { outcome: result.outcome, detail: result.detail });
      o.onEvent({ type: 'step-end', name: step.name, outcome: result.outcome, ms, detail: result.detail });
    } catch (error) {
      const ms = Math.round(performance.now() - started);
      const detail = error instanceof Error ? error.message : String(error);
      await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'end', outcome: 'failed' });
      o.ledger.finishStep(o.deploymentId, step.name, { outcome: 'failed', detail });
      o.onEvent({ type: 'step-end', name: step.name, outcome: 'failed', ms, detail });
      const undoFailures = await undoSteps({ ...o, steps: begun.reverse() });
      return { ok: false, failedStep: step.name, error, undoFailures };
    }
  }
  return { ok: true };
}

async function undoSteps<C>(o: RunPipelineOptions<C>): Promise<string[]> {
  const failures: string[] = [];
  for (const step of o.steps) {
    if (!step.undo) continue;
    await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'undo-begin' });
    o.ledger.startStep(o.deploymentId, step.name);
    try {
      const detail = (await step.undo(o.ctx)) ?? undefined;
      await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'undo-end', outcome: 'undone' });
      o.ledger.finishStep(o.deploymentId, step.name, { outcome: 'undone', detail });
      o.onEvent({ type: 'undo', name: step.name, outcome: 'undone', detail });
    } catch (error) {
      const detail = error instanceof SlipwayError ? error.message : String(error);
      failures.push(`${step.name}: ${detail}`);
      await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'undo-end', outcome: 'failed' });
      o.ledger.finishStep(o.deploymentId, step.name, { outcome: 'failed', detail: `undo: ${detail}` });
      o.onEvent({ type: 'undo', name: step.name, outcome: 'failed', detail });
    }
  }
  return failures;
}
