import { releaseLock } from '../lock.js';
import { pruneReleases } from '../prune.js';
import type { UpdateStep } from '../update-context.js';

/** Step 10: the old slot stops (its release stays on disk), old releases are pruned, the lock goes. */
export const finishStep: UpdateStep = {
  name: 'finish',
  async run(ctx) {
    const notes: string[] = [];
    if (ctx.oldSlot && ctx.oldSlot !== ctx.newSlot) {
      await ctx.runtime.stopSlot(ctx.oldSlot);
      notes.push(`stopped ${ctx.oldSlot.version}`);
    }
    const pruned = await pruneReleases({ layout: ctx.layout, ledger: ctx.ledger, keep: ctx.environment.retention.releases });
    if (pruned.length > 0) notes.push(`pruned ${pruned.length} old release${pruned.length === 1 ? '' : 's'}`);
    if (ctx.lockToken) await releaseLock(ctx.layout.lockFile, ctx.lockToken);
    ctx.lockToken = undefined;
    return { outcome: 'done', detail: notes.join(', ') || undefined };
  },
};
