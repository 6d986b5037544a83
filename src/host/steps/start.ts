import { targetManifest, type UpdateStep } from '../update-context.js';

/** Step 7: the new release starts beside the old one and must pass its health check. */
export const startStep: UpdateStep = {
  name: 'start',
  async run(ctx) {
    const manifest = targetManifest(ctx);
    ctx.oldSlot = ctx.runtime.activeSlot();
    ctx.newSlot = await ctx.runtime.startIdleSlot(ctx.to.id, manifest);
    return { outcome: 'done', detail: `${manifest.version} healthy in slot ${ctx.newSlot.name}` };
  },
  async undo(ctx) {
    if (ctx.newSlot && ctx.runtime.activeSlot() !== ctx.newSlot) {
      await ctx.runtime.stopSlot(ctx.newSlot);
      return `stopped ${ctx.newSlot.version} in slot ${ctx.newSlot.name}`;
    }
  },
};
