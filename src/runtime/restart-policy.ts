/**
 * When a crashed service is started again: the same policy for a process and for a container.
 * Each crash waits twice as long as the one before (up to a ceiling); too many restarts within
 * a window and the service is given up as failed, so a release that cannot run stops flapping.
 */
import { redactSecrets } from '../errors.js';

export interface RestartPolicy {
  /** restarts allowed within `windowMs`; one more crash and the service is 'failed' */
  maxRestarts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** default 60 000 */
  windowMs?: number;
}

/** 5 restarts per minute, backoff 500 ms doubling up to 10 s */
export const DEFAULT_RESTART: Required<RestartPolicy> = { maxRestarts: 5, initialBackoffMs: 500, maxBackoffMs: 10_000, windowMs: 60_000 };

export type CrashVerdict = { restart: true; delayMs: number } | { restart: false; restartsInWindow: number };

/** The restarts of one service: what to do after a crash, and how many restarts there were. */
export class RestartBudget {
  readonly policy: Required<RestartPolicy>;
  private times: number[] = [];
  private count = 0;

  constructor(policy?: RestartPolicy) {
    this.policy = { ...DEFAULT_RESTART, ...policy };
  }

  /** how many times the service was restarted after a crash */
  restarts(): number {
    return this.count;
  }

  /** After a crash: restart after a delay, or give up (too many restarts within the window). */
  afterCrash(now = Date.now()): CrashVerdict {
    this.times = this.times.filter((time) => now - time < this.policy.windowMs);
    if (this.times.length >= this.policy.maxRestarts) return { restart: false, restartsInWindow: this.times.length };
    return { restart: true, delayMs: Math.min(this.policy.maxBackoffMs, this.policy.initialBackoffMs * 2 ** this.times.length) };
  }

  /** The delay is over: the restart happens now. */
  recordRestart(now = Date.now()): void {
    this.times.push(now);
    this.count += 1;
  }

  /** The words after "<name> exited (…)" in the service's log, for either verdict. */
  describe(verdict: CrashVerdict): string {
    return verdict.restart ? `restarting in ${verdict.delayMs}ms` : `gave up after ${verdict.restartsInWindow} restart(s) within ${this.policy.windowMs}ms`;
  }
}

/** One of slipway's own lines in a service's log: `<time> [slipway] <text>` (sinceLastStart finds a start by it). */
export function serviceLogLine(text: string): string {
  return `${new Date().toISOString()} [slipway] ${redactSecrets(text)}\n`;
}
