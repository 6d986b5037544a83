import { targetManifest, type UpdateStep } from '../update-context.js';

/** How long a write may be held while the schema changes before it is let through anyway. */
export const MIGRATION_HOLD_MS = 60_000;

/** Step 5: writes are held while the data changes, so none lands on the old release and is lost. */
export const maintenanceStep: UpdateStep = {
  name: 'maintenance',
  async run(ctx) {
    const manifest = targetManifest(ctx);
    if (ctx.kind !== 'deploy' || !manifest.migrates || !ctx.from) {
      return { outcome: 'skipped', detail: 'no migration: blue/green without a maintenance window' };
    }
    ctx.runtime.setMaintenance({ mode: 'hold', holdMs: MIGRATION_HOLD_MS, writesOnly: true });
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
