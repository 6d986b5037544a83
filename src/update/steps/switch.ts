import { SlipwayError } from '../../errors.js';
import { pointCurrentAt, readCurrent } from '../../host/current-link.js';
import { promises as fs } from 'node:fs';
import type { UpdateStep } from '../context.js';

/** Step 8: the proxy and `current` move to the new release together; the old slot drains (finish decides whether it stays warm). */
export const switchStep: UpdateStep = {
  name: 'switch',
  async run(ctx) {
    const slot = ctx.newSlot;
    if (!slot) throw new SlipwayError('INTERNAL', 'switch without a started slot (pipeline order bug)');
    const result = await ctx.runtime.activate(slot);
    ctx.switched = true;
    await pointCurrentAt(ctx.layout, ctx.to.id);
    ctx.ledger.setCurrent({ currentId: ctx.to.id, previousId: ctx.from?.id ?? null });
    if (ctx.maintenanceOn) {
      ctx.runtime.setMaintenance(ctx.maintenanceBefore ?? { mode: 'off' });
      ctx.maintenanceOn = false;
    }
    const drained = result.previous === null ? 'nothing served before' : result.drained ? 'old slot drained' : `${result.inFlightLeft} requests still in flight on the old slot after the drain timeout`;
    return { outcome: 'done', detail: `now serving ${slot.version}${ctx.warmSince ? ' from its warm standby' : ''} (${drained})` };
  },
  async undo(ctx) {
    if (!ctx.switched) return;
    // The data is about to be restored (migrate's undo): the old release must not take writes that the restore would discard.
    if (ctx.dataChanged) {
      ctx.runtime.setMaintenance({ mode: 'hold', holdMs: 60_000, writesOnly: true, afterHold: 'refuse' });
      ctx.maintenanceOn = true;
    }
    const back = ctx.oldSlot;
    if (back && back.services.every((s) => s.process.isAlive())) {
      await ctx.runtime.activate(back);
    } else if (back) {
      // The old slot died meanwhile: start it again from its release on disk.
      const restarted = await ctx.runtime.startIdleSlot(back.releaseId, ctx.from!.manifest);
      await ctx.runtime.activate(restarted);
      ctx.oldSlot = restarted;
    } else {
      ctx.runtime.deactivate();
    }
    if (ctx.from) await pointCurrentAt(ctx.layout, ctx.from.id);
    else await fs.rm(ctx.layout.currentLink, { force: true });
    ctx.ledger.setCurrent({ currentId: ctx.from?.id ?? null, previousId: ctx.previousIdBefore });
    ctx.switched = false;
    return ctx.from ? `switched back to ${ctx.from.manifest.version}` : 'no release serves (there was none before)';
  },
  async isDone(ctx) {
    return (await readCurrent(ctx.layout)) === ctx.to.id && ctx.ledger.getState().currentId === ctx.to.id;
  },
};
