import { SlipwayError } from '../../errors.js';
import { prepareNextRelease } from '../../host/prepared-release.js';
import { linkPendingObjects } from '../../host/install-release.js';
import type { UpdateContext, UpdateStep } from '../context.js';
import { formatDuration } from '../../plan/plan.js';

/**
 * Step 9: a health window after the switch; a failure here switches back automatically.
 * Meanwhile, under the update's lock, the next release's folder is prepared: a copy of
 * this release made of hard links, that the next install changes instead of making
 * every link again (host/prepared-release.ts).
 */
export const watchStep: UpdateStep = {
  name: 'watch',
  describe({ input: { healthWindowMs } }) {
    if (healthWindowMs !== undefined && healthWindowMs <= 0) return { step: 'watch', runs: false, what: 'health window is 0' };
    return { step: 'watch', runs: true, what: `watch health${healthWindowMs === undefined ? '' : ` for ${formatDuration(healthWindowMs)}`}; roll back on failure` };
  },
  skipWhy(ctx) {
    if (ctx.environment.healthWindowMs <= 0) return 'health window is 0';
    // The window catches a release that fails soon after it starts. A warm standby started long before: it passed
    // its window when it first served, ran since, and answered its health check just before the switch.
    if (ctx.running.warmSince) return `${ctx.running.started!.version} was warm in standby: it passed its health window when it first served`;
    return null;
  },
  async run(ctx) {
    const skip = watchStep.skipWhy!(ctx);
    if (skip !== null) return { outcome: 'skipped', detail: skip };
    const release = ctx.running.started!;
    const windowMs = ctx.environment.healthWindowMs;
    const preparing = prepareNext(ctx);
    const result = await ctx.runtime.watchHealth(release, windowMs);
    // Awaited either way: nothing may change the releases folder once the step ends (an undo may follow).
    const prepared = await preparing;
    if (!result.ok) {
      throw new SlipwayError('HEALTH_WINDOW_FAILED', `${release.version} failed its health window after the switch: ${result.reason}`, {
        details: result.output.length > 0 ? ['last output of the service:', ...result.output.map((l) => `  ${l}`)] : [],
        hint: 'slipway switched back; fix the release and deploy again',
      });
    }
    return { outcome: 'done', detail: `healthy for ${windowMs} ms${prepared ? `; ${prepared}` : ''}` };
  },
};

/** Prepares the next release's folder from the target's; a phrase for the step's line. Never fails the step: the next install then makes its folder from nothing. */
async function prepareNext(ctx: UpdateContext): Promise<string | null> {
  const manifest = ctx.to.manifest;
  if (!manifest) return null;
  const started = Date.now();
  try {
    // The copy is made of the host's objects: this release's own, if its install left them for now, go in first.
    await linkPendingObjects(ctx.layout);
    const outcome = await prepareNextRelease({ layout: ctx.layout, store: ctx.store, app: ctx.app, id: ctx.to.id, manifest });
    if (outcome === 'made') return `next release's folder prepared from this one in ${formatDuration(Date.now() - started)}`;
    if (outcome === 'present') return null;
    return "next release's folder not prepared: a content on this host is damaged";
  } catch (error) {
    return `next release's folder not prepared: ${(error as Error).message}`;
  }
}
