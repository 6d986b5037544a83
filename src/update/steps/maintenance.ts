import { targetManifest, type UpdateStep } from '../context.js';

/** How long a write may be held while the data changes (backup, migration) before it is refused with 503. */
export const MIGRATION_HOLD_MS = 60_000;

/**
 * Step 5: no write may land on the old release and then be lost. During a
 * migration writes are held (reads still served); while a backup is restored
 * every request is answered 503 with Retry-After, since the data is being swapped.
 * The backup step already stopped writes before its snapshot; this widens or keeps that.
 */
export const maintenanceStep: UpdateStep = {
  name: 'maintenance',
  async run(ctx) {
    // The backup step may have recorded it already, before it held writes for its snapshot.
    ctx.maintenanceBefore ??= ctx.runtime.maintenance();
    if (ctx.maintenanceBefore.mode !== 'off') {
      return { outcome: 'skipped', detail: `maintenance is already on (${ctx.maintenanceBefore.mode}) and stays on` };
    }
    if (ctx.restoreBackupId) {
      ctx.runtime.setMaintenance({ mode: 'hold', holdMs: 60_000, afterHold: 'refuse' });
      ctx.maintenanceOn = true;
      return { outcome: 'done', detail: 'requests held while the data is restored' };
    }
    const manifest = targetManifest(ctx);
    if (ctx.kind === 'deploy' && manifest.migrates && !ctx.from) {
      // A first deploy still migrates (step 6); there is just no serving release whose writes could be lost.
      return { outcome: 'skipped', detail: 'nothing serves yet, so no window is needed: the migration runs before the release starts' };
    }
    if (ctx.kind !== 'deploy' || !manifest.migrates) {
      return { outcome: 'skipped', detail: 'no migration: blue/green without a maintenance window' };
    }
    // A write that waited too long is refused, never let through: it could land on data that is then restored away.
    ctx.runtime.setMaintenance({ mode: 'hold', holdMs: MIGRATION_HOLD_MS, writesOnly: true, afterHold: 'refuse' });
    ctx.maintenanceOn = true;
    return { outcome: 'done', detail: 'writes held until the switch; reads still served' };
  },
  async undo(ctx) {
    if (ctx.maintenanceOn) {
      ctx.runtime.setMaintenance(ctx.maintenanceBefore ?? { mode: 'off' });
      ctx.maintenanceOn = false;
    }
  },
};
