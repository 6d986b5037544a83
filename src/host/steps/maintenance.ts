import { targetManifest, type UpdateStep } from '../update-context.js';

/** How long a write may be held while the schema changes before it is let through anyway. */
export const MIGRATION_HOLD_MS = 60_000;

/**
 * Step 5: no write may land on the old release and then be lost. During a
 * migration writes are held (reads still served); while a backup is restored
 * every request is answered 503 with Retry-After, since the data is being swapped.
 */
export const maintenanceStep: UpdateStep = {
  name: 'maintenance',
  async run(ctx) {
    if (ctx.restoreBackupId) {
      ctx.runtime.setMaintenance({ mode: 'refuse', retryAfterSeconds: 10 });
      ctx.maintenanceOn = true;
      return { outcome: 'done', detail: 'requests answered 503 while the data is restored' };
    }
    const manifest = targetManifest(ctx);
    if (ctx.kind !== 'deploy' || !manifest.migrates || !ctx.from) {
      return { outcome: 'skipped', detail: 'no migration: blue/green without a maintenance window' };
    }
    // A write that waited too long is refused, never let through: it could land on data that is then restored away.
    ctx.runtime.setMaintenance({ mode: 'hold', holdMs: MIGRATION_HOLD_MS, writesOnly: true, afterHold: 'refuse' });
    ctx.maintenanceOn = true;
    return { outcome: 'done', detail: 'writes held until the switch; reads still served' };
  },
  async undo(ctx) {
    if (ctx.maintenanceOn) {
      ctx.runtime.setMaintenance({ mode: 'off' });
      ctx.maintenanceOn = false;
    }
  },
};
