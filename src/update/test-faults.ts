import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PipelineFaults } from './pipeline.js';

/** The fault hooks armed by the environment (SLIPWAY_TEST_HOOKS=1), or undefined: the pipeline then runs without any. */
export function faultsFromEnvironment(env: NodeJS.ProcessEnv): PipelineFaults | undefined {
  if (env.SLIPWAY_TEST_HOOKS !== '1') return undefined;
  return {
    async before(step) {
      await pauseAt(env, step, 'before')?.();
    },
    async after(step) {
      await pauseAt(env, step, 'after')?.();
      crashAt(env, step);
    },
  };
}

/**
 * Test-only fault injection: with SLIPWAY_TEST_HOOKS=1 and SLIPWAY_TEST_CRASH_AT=<step>,
 * the process kills itself with SIGKILL right after that step did its work and
 * before the journal records its end: the worst moment to die.
 */
function crashAt(env: NodeJS.ProcessEnv, step: string): void {
  if (env.SLIPWAY_TEST_CRASH_AT === step) {
    process.kill(process.pid, 'SIGKILL');
  }
}

/**
 * Test-only pause, for injecting a fault while the update is at a step: with
 * SLIPWAY_TEST_HOOKS=1, SLIPWAY_TEST_PAUSE_AT=before:<step> | after:<step> (a bare
 * <step> means after:, the crash hook's moment) and SLIPWAY_TEST_PAUSE_DIR=<dir>,
 * the pipeline writes <dir>/<step>.paused there and waits until <dir>/<step>.resume
 * appears (polled every 20 ms, 60 s at most), then removes both, so that the next
 * update pauses again (a .resume written in advance lets one update through).
 * "before" is after the journal recorded the step's begin, before its hooks and
 * run: the fault hits the step's own work. "after" is once the step did its work,
 * before the journal records its end. Returns null (nothing to await) when unarmed.
 */
function pauseAt(env: NodeJS.ProcessEnv, step: string, when: 'before' | 'after'): (() => Promise<void>) | null {
  const at = env.SLIPWAY_TEST_PAUSE_AT;
  const dir = env.SLIPWAY_TEST_PAUSE_DIR;
  if (!at || !dir) return null;
  const [armedWhen, armedStep] = at.includes(':') ? at.split(':', 2) : ['after', at];
  if (armedWhen !== when || armedStep !== step) return null;
  return async () => {
    const paused = path.join(dir, `${step}.paused`);
    const resume = path.join(dir, `${step}.resume`);
    writeFileSync(paused, `${process.pid}\n`);
    const deadline = Date.now() + 60_000;
    while (!existsSync(resume) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    rmSync(resume, { force: true });
    rmSync(paused, { force: true });
  };
}

