import { promises as fs } from 'node:fs';
import { SlipwayError } from '../../errors.js';
import { pointCurrentAt, readCurrent } from '../../host/current-link.js';
import type { UpdateContext, UpdateStep } from '../context.js';
import { undoRestoresData } from './migrate.js';


/** Step 8: the proxy and `current` move to the new release together; the old one drains (finish decides whether it stays warm). */
export const switchStep: UpdateStep = {
  name: 'switch',
  describe: ({ input: { current, target } }) => ({
    step: 'switch',
    runs: true,
    what: current ? `point the proxy at ${target.version} and drain ${current.version}` : `point the proxy at ${target.version}: the app answers from here on (until then the proxy answers 503)`,
  }),
  async run(ctx) {
    const started = ctx.running.started;
    if (!started) throw new SlipwayError('INTERNAL', 'switch without a started release (pipeline order bug)');
    // Before anything moves: undoing the switch, even after a crash, puts the host's previous release back.
    await ctx.record('switch', { previousIdBefore: ctx.ledger.getState().previousId });
    const result = await ctx.runtime.activate(started);
    ctx.facts.switch = { ...ctx.facts.switch!, switched: true };
    await pointCurrentAt(ctx.layout, ctx.to.id);
    ctx.ledger.setCurrent({ currentId: ctx.to.id, previousId: ctx.from?.id ?? null });
    ctx.maintenance.end();
    const drained = result.previous === null ? 'nothing served before' : result.drained ? 'old slot drained' : `${result.inFlightLeft} requests still in flight on the old slot after the drain timeout`;
    return { outcome: 'done', detail: `now serving ${started.version}${ctx.running.warmSince ? ' from its warm standby' : ''} (${drained})` };
  },
  async undo(ctx) {
    const facts = ctx.facts.switch;
    if (!facts) return;
    let detail: string | void = undefined;
    try {
      if (facts.switched) detail = await switchBack(ctx);
    } finally {
      // The link and the ledger go back whether or not the proxy had moved (the switch may have stopped between them),
      // and even when the old release could not be started again: the release that failed must not stay `current`.
      if (ctx.from) {
        if ((await readCurrent(ctx.layout).catch(() => null)) !== ctx.from.id) await pointCurrentAt(ctx.layout, ctx.from.id);
      } else {
        await fs.rm(ctx.layout.currentLink, { force: true });
      }
      ctx.ledger.setCurrent({ currentId: ctx.from?.id ?? null, previousId: facts.previousIdBefore });
    }
    ctx.facts.switch = undefined;
    return detail ?? (ctx.from ? `switched back to ${ctx.from.manifest.version}` : 'no release serves (there was none before)');
  },
  async isDone(ctx) {
    return (await readCurrent(ctx.layout).catch(() => null)) === ctx.to.id && ctx.ledger.getState().currentId === ctx.to.id;
  },
};

/** The proxy goes back to the release that served before the update; a phrase when it does something else than switch back. */
async function switchBack(ctx: UpdateContext): Promise<string | void> {
  // The data is about to be restored (migrate's undo): the old release must not take writes that the restore would discard.
  if (ctx.facts.migrate?.changesData) ctx.maintenance.hold('writes');
  const back = ctx.running.replaced;
  if (back && ctx.runtime.isAlive(back)) {
    await ctx.runtime.activate(back);
    return;
  }
  if (!back || !ctx.from) {
    // Nothing served before (or nothing runs: after a crash the agent starts what `current` names).
    ctx.runtime.deactivate();
    return;
  }
  // The old release died meanwhile. Its slot is stopped first, or its services' restarts would go on beside the new start.
  await ctx.runtime.stop(back);
  ctx.running.replaced = null;
  if (undoRestoresData(ctx)) {
    // Not started here: it would start, and be health-checked, on the data the update migrated (and may fail on it),
    // before migrate's undo, which runs next, restores its data and starts it on them. Until then every request waits.
    ctx.maintenance.hold('all');
    return `${ctx.from.manifest.version} starts once its data is restored (requests wait until then)`;
  }
  // Start it again from its release on disk.
  const restarted = await ctx.runtime.startIdle(ctx.from.id, ctx.from.manifest);
  await ctx.runtime.activate(restarted);
  ctx.running.replaced = restarted;
}
