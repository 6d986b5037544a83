import { SlipwayError } from '../errors.js';
import type { Journal } from '../host/journal.js';
import type { Ledger } from '../host/ledger.js';

/**
 * A pipeline step: what it does, how to undo it, and how to ask the real host
 * whether it is already done (for resuming after a crash, not only the journal).
 */
export interface PipelineStep<C> {
  name: string;
  run(ctx: C): Promise<StepResult | void>;
  undo?(ctx: C): Promise<string | void>;
  isDone?(ctx: C): Promise<boolean>;
  /**
   * Why the step has nothing to do in this update, decided from what is known before it
   * starts (no side effects); null when it runs. A step skipped this way is not journaled:
   * it changes nothing a crash could leave half-done, and its two fsynced lines would cost
   * a warm rollback, a switch of a few milliseconds, most of its time.
   */
  skipWhy?(ctx: C): string | null;
  /**
   * The step's work is never undone and recovery decides nothing on it (fetch: an immutable
   * release folder a retry reuses; preflight: checks). Its begin line is then not synced before
   * it acts: the next synced line carries it. Every other step's begin is synced first, which
   * also makes the step before it durably ended before it acts (finish relies on watch's end).
   */
  leavesNothingToUndo?: boolean;
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
  /** whether the app has hooks around that step: such a step runs (and its hooks with it) even when it would skip */
  hasHooks?(step: string): boolean;
  /** runs first when a step fails, before the failure is recorded and the steps undone (frees room on the disk) */
  onFailure?(error: unknown): Promise<void>;
  /** the facts a step leaves for its undo, written with its end in the journal */
  factsOf?(step: string): Record<string, unknown> | undefined;
  /** faults injected around each step's work (tests only: see test-faults.ts) */
  faults?: PipelineFaults;
}

/** Called around each step's own work: `before` once its begin is journaled, `after` before its end is. */
export interface PipelineFaults {
  before(step: string): Promise<void>;
  after(step: string): Promise<void>;
}

/**
 * Runs the steps in order, journaling before and after each. When one fails,
 * the steps already run (and the failing one, which may have half-happened)
 * are undone in reverse order. Undo failures are collected, never thrown.
 *
 * Recording a step is part of the step: a journal or ledger that cannot be written
 * (a full disk) fails it, and the update is undone. Once a step has failed, the
 * records are best effort: the undo runs whether or not it can be written down.
 */
export async function runPipeline<C>(o: RunPipelineOptions<C>): Promise<PipelineResult> {
  const begun: PipelineStep<C>[] = [];
  for (const step of o.steps) {
    o.onEvent({ type: 'step-begin', name: step.name });
    const skip = o.hasHooks?.(step.name) ? null : (step.skipWhy?.(o.ctx) ?? null);
    const started = performance.now();
    try {
      if (skip !== null) {
        await o.faults?.before(step.name);
        await o.faults?.after(step.name);
        // History only (finishStep makes a row of ms 0): nothing was done, so nothing is journaled.
        o.ledger.finishStep(o.deploymentId, step.name, { outcome: 'skipped', detail: skip });
        o.onEvent({ type: 'step-end', name: step.name, outcome: 'skipped', ms: 0, detail: skip });
        continue;
      }
      // Begun before it is recorded: if the record fails, its undo (which checks what was done) still runs.
      begun.push(step);
      // Synced before the step acts (recovery undoes the steps the journal says began), unless nothing of it is ever undone.
      await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'begin' }, { sync: step.leavesNothingToUndo !== true });
      o.ledger.startStep(o.deploymentId, step.name);
      await o.faults?.before(step.name);
      if (o.runHooks) await o.runHooks('before', step.name);
      const result = (await step.run(o.ctx)) ?? { outcome: 'done' as const };
      if (o.runHooks) await o.runHooks('after', step.name);
      await o.faults?.after(step.name);
      const ms = Math.round(performance.now() - started);
      const data = o.factsOf?.(step.name);
      // Not synced on its own: the next synced begin, before that step acts, carries it to the disk (and flush() the
      // last one). Lost to a power cut before then, it reads as a crash just before it was written, which recovery
      // handles anyway: the step is asked whether its work is in place (isDone) and undone from its facts.
      await o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'end', outcome: result.outcome, ...(data ? { data } : {}) }, { sync: false });
      o.ledger.finishStep(o.deploymentId, step.name, { outcome: result.outcome, detail: result.detail });
      o.onEvent({ type: 'step-end', name: step.name, outcome: result.outcome, ms, detail: result.detail });
    } catch (error) {
      await bestEffort(() => o.onFailure?.(error));
      const ms = Math.round(performance.now() - started);
      const detail = error instanceof Error ? error.message : String(error);
      if (skip === null) {
        await bestEffort(() => o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'end', outcome: 'failed' }));
        await bestEffort(() => o.ledger.finishStep(o.deploymentId, step.name, { outcome: 'failed', detail }));
      }
      o.onEvent({ type: 'step-end', name: step.name, outcome: 'failed', ms, detail });
      const undoFailures = await undoSteps({ ...o, steps: begun.reverse() });
      return { ok: false, failedStep: step.name, error, undoFailures };
    }
  }
  // Before the outcome is recorded: recovery finishes an update whose watch ended, and must see that it did.
  await o.journal.flush();
  return { ok: true };
}

/**
 * Undoes steps, in the order given (the caller reverses them): a failed update's undo, and crash
 * recovery's, which rebuilt the steps' facts from the journal. Failures are collected, never thrown.
 */
export async function undoSteps<C>(o: Pick<RunPipelineOptions<C>, 'steps' | 'ctx' | 'deploymentId' | 'journal' | 'ledger' | 'onEvent'>): Promise<string[]> {
  const failures: string[] = [];
  for (const step of o.steps) {
    if (!step.undo) continue;
    await bestEffort(() => o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'undo-begin' }));
    await bestEffort(() => o.ledger.startStep(o.deploymentId, step.name));
    try {
      const detail = (await step.undo(o.ctx)) ?? undefined;
      await bestEffort(() => o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'undo-end', outcome: 'undone' }));
      await bestEffort(() => o.ledger.finishStep(o.deploymentId, step.name, { outcome: 'undone', detail }));
      o.onEvent({ type: 'undo', name: step.name, outcome: 'undone', detail });
    } catch (error) {
      const detail = error instanceof SlipwayError ? error.message : String(error);
      failures.push(`${step.name}: ${detail}`);
      await bestEffort(() => o.journal.append({ deployment: o.deploymentId, step: step.name, phase: 'undo-end', outcome: 'failed' }));
      await bestEffort(() => o.ledger.finishStep(o.deploymentId, step.name, { outcome: 'failed', detail: `undo: ${detail}` }));
      o.onEvent({ type: 'undo', name: step.name, outcome: 'failed', detail });
    }
  }
  return failures;
}

/** A record that must not stop an undo: its failure is ignored (the undo itself is what matters). */
async function bestEffort(write: () => unknown): Promise<void> {
  try {
    await write();
  } catch {
    // not recorded: the journal and ledger say less than happened, and recovery reads the host itself
  }
}
