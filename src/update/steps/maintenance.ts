import { targetManifest, type UpdateStep } from '../context.js';


/**
 * Step 5: no write may land on the old release and then be lost. During a
 * migration writes are held (reads still served); while a backup is restored
 * every request is answered 503 with Retry-After, since the data is being swapped.
 * The backup step already stopped writes before its snapshot; this widens or keeps that.
 */
const NO_WINDOW = 'no migration: blue/green without a maintenance window';

export const maintenanceStep: UpdateStep = {
  name: 'maintenance',
  describe({ input, migrations, downtime }) {
    const step = (runs: boolean, what: string) => ({ step: 'maintenance' as const, runs, what });
    if (input.restoresBackup) return step(true, 'hold requests while the data is restored (503 if it takes too long)');
    if (downtime === 'maintenance-window') return step(true, 'hold writes while the data changes (reads still served)');
    if (!input.current) {
      return step(false, migrations.runs ? `nothing serves yet, so no window is needed: the migration runs before ${input.target.version} starts` : 'nothing serves yet, so no window is needed');
    }
    return step(false, 'no data change: blue/green without a maintenance window');
  },
  skipWhy(ctx) {
    const operators = ctx.maintenance.operatorsMode();
    if (operators) return `maintenance is already on (${operators.mode}) and stays on`;
    // A rollback's target may not be read yet; a rollback never migrates, so it needs no window.
    if (!ctx.restore && ctx.kind !== 'deploy') return NO_WINDOW;
    return null;
  },
  async run(ctx) {
    const skip = maintenanceStep.skipWhy!(ctx);
    if (skip !== null) return { outcome: 'skipped', detail: skip };
    if (ctx.restore) {
      ctx.maintenance.holdAll();
      await ctx.maintenance.settleWrites();
      return { outcome: 'done', detail: 'requests held while the data is restored' };
    }
    const manifest = targetManifest(ctx);
    if (ctx.kind === 'deploy' && manifest.migrates && !ctx.from) {
      // A first deploy still migrates (step 6); there is just no serving release whose writes could be lost.
      return { outcome: 'skipped', detail: 'nothing serves yet, so no window is needed: the migration runs before the release starts' };
    }
    if (!manifest.migrates) return { outcome: 'skipped', detail: NO_WINDOW };
    ctx.maintenance.holdWrites();
    return { outcome: 'done', detail: 'writes held until the switch; reads still served' };
  },
  async undo(ctx) {
    ctx.maintenance.end();
  },
};
