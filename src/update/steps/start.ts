import { targetManifest, type UpdateStep } from '../context.js';


/**
 * Step 7: the new release starts beside the old one and must pass its health check.
 * A release still warm in standby (it served until a recent switch) is taken over
 * instead: nothing starts, so a code rollback inside the standby window is a proxy switch.
 */
export const startStep: UpdateStep = {
  name: 'start',
  describe({ input: { current, target } }) {
    const health = target.runtime.services[0]?.health.path;
    const wait = health ? `, wait for GET ${health}` : '';
    return { step: 'start', runs: true, what: current ? `start ${target.version} in the idle slot beside ${current.version}${wait}` : `start ${target.version} (nothing else runs yet)${wait}` };
  },
  async run(ctx) {
    const manifest = targetManifest(ctx);
    ctx.running.replaced = ctx.runtime.active();
    // A standby process ran on the data as it was: after a restore or a migration it may hold the replaced files open.
    if (!ctx.restore && !ctx.facts.migrate?.changesData) {
      const warm = await ctx.runtime.takeStandby(ctx.to.id);
      if (warm) {
        ctx.running.started = warm.release;
        ctx.running.warmSince = warm.since;
        return { outcome: 'done', detail: `${manifest.version} warm in slot ${warm.release.name} (in standby since ${warm.since.toISOString()}), healthy: nothing to start` };
      }
    }
    const started = await ctx.runtime.startIdle(ctx.to.id, manifest);
    ctx.running.started = started;
    const why = ctx.restore
      ? ' (restored data cannot be a proxy switch: the release starts fresh on it, as a running process would not see it)'
      : ctx.kind === 'rollback'
        ? ' (cold start: it was not in standby)'
        : '';
    return { outcome: 'done', detail: `${manifest.version} healthy in slot ${started.name}${why}` };
  },
  async undo(ctx) {
    const started = ctx.running.started;
    if (!started || ctx.runtime.active() === started) return;
    // A warm one goes back to standby: the update that took it failed, the release itself did not.
    if (ctx.running.warmSince) return ctx.runtime.retire(started);
    await ctx.runtime.stop(started);
    return `stopped ${started.version} in slot ${started.name}`;
  },
};
