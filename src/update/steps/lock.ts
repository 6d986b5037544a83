import { ensureDiskReserve } from '../../host/disk-reserve.js';
import { acquireLock, readLock, releaseLock } from '../../host/lock.js';
import type { UpdateStep } from '../context.js';


/**
 * Step 1: one update at a time; the lock names who, since when and why. With the host
 * held, room to undo the update is reserved on its disk (see disk-reserve.ts).
 */
export const lockStep: UpdateStep = {
  name: 'lock',
  describe: ({ input }) => ({ step: 'lock', runs: true, what: `take the lock of ${input.environment}` }),
  async run(ctx) {
    const lock = await acquireLock(ctx.layout.lockFile, {
      holder: `slipway ${ctx.kind} ${ctx.environmentName} (by ${ctx.who})`,
      reason: ctx.reason,
    });
    ctx.facts.lock = { token: lock.token };
    await ensureDiskReserve(ctx.layout);
  },
  async undo(ctx) {
    if (ctx.facts.lock) await releaseLock(ctx.layout.lockFile, ctx.facts.lock.token);
    ctx.facts.lock = undefined;
  },
  async isDone(ctx) {
    const lock = await readLock(ctx.layout.lockFile);
    return lock !== null && lock.token === ctx.facts.lock?.token;
  },
};
