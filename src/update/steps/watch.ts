import { SlipwayError } from '../../errors.js';
import { watchHealth } from '../../runtime/health-check.js';
import { sinceLastStart } from '../../runtime/slots.js';
import type { UpdateStep } from '../context.js';

/** Step 9: a health window after the switch; a failure here switches back automatically. */
export const watchStep: UpdateStep = {
  name: 'watch',
  async run(ctx) {
    const slot = ctx.newSlot!;
    const windowMs = ctx.environment.healthWindowMs;
    if (windowMs <= 0) return { outcome: 'skipped', detail: 'health window is 0' };
    // The window catches a release that fails soon after it starts. A warm standby started long before: it passed
    // its window when it first served, ran since, and answered its health check just before the switch.
    if (ctx.warmSince) return { outcome: 'skipped', detail: `${slot.version} was warm in standby: it passed its health window when it first served` };
    const primary = slot.services.find((s) => s.port === slot.port)!;
    const result = await watchHealth({
      url: `http://127.0.0.1:${slot.port}${primary.config.health.path}`,
      check: primary.config.health,
      windowMs,
    });
    if (!result.ok) {
      const output = sinceLastStart(await primary.process.lastOutput(40).catch(() => [] as string[])).slice(-15);
      throw new SlipwayError('HEALTH_WINDOW_FAILED', `${slot.version} failed its health window after the switch: ${result.reason}`, {
        details: output.length > 0 ? ['last output of the service:', ...output.map((l) => `  ${l}`)] : [],
        hint: 'slipway switched back; fix the release and deploy again',
      });
    }
    return { outcome: 'done', detail: `healthy for ${windowMs} ms` };
  },
};
