import { formatBytes } from '../../cli/format.js';
import { createBackup, hasData } from '../../data/index.js';
import { dataEnvironment, type UpdateStep } from '../update-context.js';

/** Step 4: a verified backup of every database and folder, tagged with the release serving now. */
export const backupStep: UpdateStep = {
  name: 'backup',
  async run(ctx) {
    if (ctx.kind === 'rollback' && !ctx.restoreBackupId) return { outcome: 'skipped', detail: 'the data stays as it is (--with-data restores it)' };
    if (!ctx.from) return { outcome: 'skipped', detail: 'nothing deployed yet: no data to back up' };
    const data = ctx.from.manifest.runtime.data;
    if (!hasData(data)) return { outcome: 'skipped', detail: 'no databases or folders configured' };
    const backup = await createBackup({
      layout: ctx.layout,
      ledger: ctx.ledger,
      environment: ctx.environmentName,
      data,
      env: await dataEnvironment(ctx, ctx.from.manifest),
      releaseId: ctx.from.id,
      releaseVersion: ctx.from.manifest.version,
      reason: ctx.kind === 'deploy' ? 'pre-deploy' : 'pre-restore',
      deploymentId: ctx.deploymentId,
    });
    ctx.preBackupId = backup.id;
    return { outcome: 'done', detail: `${backup.id}, ${formatBytes(backup.size)}, verified` };
  },
};
