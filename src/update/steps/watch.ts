import { SlipwayError } from '../../errors.js';
import type { UpdateStep } from '../context.js';
import { formatDuration } from '../../plan/plan.js';

/** Step 9: a health window after the switch; a failure here switches back automatically. */
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
    const result = await ctx.runtime.watchHealth(release, windowMs);
    if (!result.ok) {
      throw new SlipwayError('HEALTH_WINDOW_FAILED', `${release.version} failed its health window after the switch: ${result.reason}`, {
        details: result.output.length > 0 ? ['last output of the service:', ...result.output.map((l) => `  ${l}`)] : [],
        hint: 'slipway switched back; fix the release and deploy again',
      });
    }
    return { outcome: 'done', detail: `healthy for ${windowMs} ms` };
  },
};
