import { formatBytes } from '../../util/format.js';
import { loadIntactBackup, nothingToBackUp } from '../../data/index.js';
import { backupReleaseData, changesData, type UpdateStep } from '../context.js';
import { dataParts } from '../../plan/plan.js';

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
  describe({ input, migrations }) {
    const { current } = input;
    const restores = input.restoresBackup === true;
    const step = (runs: boolean, what: string) => ({ step: 'backup' as const, runs, what });
    if (input.kind === 'rollback' && !restores) return step(false, 'the data stays as it is (a rollback with data restores a backup instead)');
    if (!current) return step(false, restores ? 'nothing deployed yet: only the backup to restore is checked' : 'nothing deployed yet, so nothing to back up');
    const parts = dataParts(current);
    if (parts.length === 0) return step(false, `${current.version} has no databases or folders configured`);
    const held = restores || migrations.runs ? '; writes held from the snapshot on' : '';
    return step(true, `${restores ? 'check the backup to restore, then ' : ''}back up ${parts.join(' and ')} of ${current.version} (~${formatBytes(input.backupEstimateBytes)})${held}`);
  },
  async run(ctx) {
    if (ctx.restore) {
      const { backupId, backupDir } = ctx.restore;
      await loadIntactBackup({ layout: ctx.layout, ledger: backupDir ? null : ctx.ledger, backupId, ...(backupDir ? { backupDir } : {}) });
    }
    if (ctx.kind === 'rollback' && !ctx.restore) return { outcome: 'skipped', detail: 'the data stays as it is (--with-data restores it)' };
    const nothing = nothingToBackUp(ctx.from);
    if (nothing || !ctx.from) return { outcome: 'skipped', detail: nothing ?? '' };
    // Past this point a write the old release acknowledged could be lost by restoring this backup: hold them.
    const held = changesData(ctx) && ctx.maintenance.holdWrites();
    const backup = await backupReleaseData(ctx, { release: ctx.from, reason: ctx.kind === 'deploy' ? 'pre-deploy' : 'pre-restore', deploymentId: ctx.deploymentId });
    ctx.facts.backup = { backupId: backup.id };
    return { outcome: 'done', detail: `${backup.id}, ${formatBytes(backup.size)}, verified${held ? '; writes held from the snapshot on' : ''}` };
  },
  async undo(ctx) {
    ctx.maintenance.end();
  },
};
