import { targetManifest, type UpdateStep } from '../context.js';

/**
 * Step 7: the new release starts beside the old one and must pass its health check.
 * A release still warm in standby (it served until a recent switch) is taken over
 * instead: nothing starts, so a code rollback inside the standby window is a proxy switch.
 */
export const startStep: UpdateStep = {
  name: 'start',
  async run(ctx) {
    const manifest = targetManifest(ctx);
    ctx.oldSlot = ctx.runtime.activeSlot();
    // A standby process ran on the data as it was: after a restore it may still hold the replaced files open.
    if (!ctx.restoreBackupId && !ctx.dataChanged) {
      const warm = await ctx.runtime.takeStandby(ctx.to.id);
      if (warm) {
        ctx.newSlot = warm.slot;
        ctx.warmSince = warm.since;
        return { outcome: 'done', detail: `${manifest.version} warm in slot ${warm.slot.name} (in standby since ${warm.since.toISOString()}), healthy: nothing to start` };
      }
    }
    ctx.newSlot = await ctx.runtime.startIdleSlot(ctx.to.id, manifest);
    const why = ctx.restoreBackupId
      ? ' (a rollback with data cannot be a proxy switch: the release starts fresh on the restored data, which a running process would not see)'
      : ctx.kind === 'rollback'
        ? ' (cold start: it was not in standby)'
        : '';
    return { outcome: 'done', detail: `${manifest.version} healthy in slot ${ctx.newSlot.name}${why}` };
  },
  async undo(ctx) {
    if (ctx.newSlot && ctx.runtime.activeSlot() !== ctx.newSlot) {
      // A warm slot goes back to standby: the update that took it failed, the release itself did not.
      if (ctx.warmSince) return ctx.runtime.retireSlot(ctx.newSlot);
      await ctx.runtime.stopSlot(ctx.newSlot);
      return `stopped ${ctx.newSlot.version} in slot ${ctx.newSlot.name}`;
    }
  },
};
