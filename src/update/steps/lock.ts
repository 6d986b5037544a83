import { ensureDiskReserve } from '../../host/disk-reserve.js';
import { acquireLock, readLock, releaseLock } from '../../host/lock.js';
import type { UpdateStep } from '../context.js';

/**
 * Step 1: one update at a time; the lock names who, since when and why. With the host
 * held, room to undo the update is reserved on its disk (see disk-reserve.ts).
 */
export const lockStep: UpdateStep = {
  name: 'lock',
  async run(ctx) {
    const lock = await acquireLock(ctx.layout.lockFile, {
      holder: `slipway ${ctx.kind} ${ctx.environmentName} (by ${ctx.who})`,
      reason: ctx.reason,
    });
    ctx.lockToken = lock.token;
    await ensureDiskReserve(ctx.layout);
  },
  async undo(ctx) {
    if (ctx.lockToken) await releaseLock(ctx.layout.lockFile, ctx.lockToken);
  },
  async isDone(ctx) {
    const lock = await readLock(ctx.layout.lockFile);
    return lock !== null && lock.token === ctx.lockToken;
  },
};
