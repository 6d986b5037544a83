import { formatBytes } from '../../util/format.js';
import { loadIntactBackup, nothingToBackUp } from '../../data/index.js';
import { MIGRATION_HOLD_MS } from './maintenance.js';
import { backupReleaseData, targetManifest, type UpdateContext, type UpdateStep } from '../context.js';

/**
 * Step 4: a verified backup of every database and folder, tagged with the release serving now.
 *
 * When the update goes on to change the data (a migration, a restore), writes stop being
 * acknowledged before the snapshot starts: a write the old release acknowledged after the
 * snapshot would be lost if the update then restored that backup. A restore also checks
 * the backup it brings back first, so a damaged one is refused before anything changes.
 */
export const backupStep: UpdateStep = {
  name: 'backup',
  async run(ctx) {
    if (ctx.restoreBackupId) {
      await loadIntactBackup({
        layout: ctx.layout,
        ledger: ctx.restoreBackupDir ? null : ctx.ledger,
        backupId: ctx.restoreBackupId,
        ...(ctx.restoreBackupDir ? { backupDir: ctx.restoreBackupDir } : {}),
      });
    }
    if (ctx.kind === 'rollback' && !ctx.restoreBackupId) return { outcome: 'skipped', detail: 'the data stays as it is (--with-data restores it)' };
    const nothing = nothingToBackUp(ctx.from);
    if (nothing || !ctx.from) return { outcome: 'skipped', detail: nothing ?? '' };
    const writes = stopWritesBeforeSnapshot(ctx);
    const backup = await backupReleaseData(ctx, { release: ctx.from, reason: ctx.kind === 'deploy' ? 'pre-deploy' : 'pre-restore', deploymentId: ctx.deploymentId });
    ctx.preBackupId = backup.id;
    return { outcome: 'done', detail: `${backup.id}, ${formatBytes(backup.size)}, verified${writes ? `; ${writes}` : ''}` };
  },
  async undo(ctx) {
    if (ctx.maintenanceOn) {
      ctx.runtime.setMaintenance(ctx.maintenanceBefore ?? { mode: 'off' });
      ctx.maintenanceOn = false;
    }
  },
};

/**
 * Holds writes from here on when the update will change the data (a migration, a restore);
 * says so. An operator's maintenance mode, already on, is left as it is.
 */
function stopWritesBeforeSnapshot(ctx: UpdateContext): string | null {
  if (!ctx.restoreBackupId && !(ctx.kind === 'deploy' && targetManifest(ctx).migrates)) return null;
  ctx.maintenanceBefore ??= ctx.runtime.maintenance();
  if (ctx.maintenanceBefore.mode !== 'off') return null;
  // Past the hold a write is refused, never let through: it could land on data that is then restored away.
  ctx.runtime.setMaintenance({ mode: 'hold', holdMs: MIGRATION_HOLD_MS, writesOnly: true, afterHold: 'refuse' });
  ctx.maintenanceOn = true;
  return 'writes held from the snapshot on';
}
