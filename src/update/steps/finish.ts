import { formatBytes } from '../../util/format.js';
import { hasData, pruneBackups } from '../../data/index.js';
import { releaseLock } from '../../host/lock.js';
import { pruneReleases } from '../../host/prune.js';
import { backupReleaseData, targetManifest, type UpdateContext, type UpdateStep } from '../context.js';

/**
 * Step 10: the old slot goes into standby or stops (its release stays on disk), a backup tagged with the
 * new release is taken, old releases and backups are pruned, the lock goes.
 * The update has already succeeded here: a failed post-update backup is reported, not undone.
 */
export const finishStep: UpdateStep = {
  name: 'finish',
  async run(ctx) {
    const notes: string[] = [];
    if (ctx.oldSlot && ctx.oldSlot !== ctx.newSlot) {
      if (ctx.restoreBackupId) {
        // Its data was swapped under it (a restore): a process that may hold the replaced files open is no standby.
        await ctx.runtime.stopSlot(ctx.oldSlot);
        notes.push(`stopped ${ctx.oldSlot.version} (not kept warm: the data was restored under it)`);
      } else {
        notes.push(await ctx.runtime.retireSlot(ctx.oldSlot));
      }
    }
    notes.push(...(await postUpdateBackup(ctx)));
    const pruned = await pruneReleases({ layout: ctx.layout, ledger: ctx.ledger, keep: ctx.environment.retention.releases });
    if (pruned.length > 0) notes.push(`pruned ${pruned.length} old release${pruned.length === 1 ? '' : 's'}`);
    if (ctx.lockToken) await releaseLock(ctx.layout.lockFile, ctx.lockToken);
    ctx.lockToken = undefined;
    return { outcome: 'done', detail: notes.join(', ') || undefined };
  },
};

async function postUpdateBackup(ctx: UpdateContext): Promise<string[]> {
  const manifest = targetManifest(ctx);
  if (ctx.kind !== 'deploy' || !hasData(manifest.runtime.data)) return [];
  try {
    const backup = await backupReleaseData(ctx, { release: { id: ctx.to.id, manifest }, reason: 'post-deploy', deploymentId: ctx.deploymentId });
    const pruned = await pruneBackups({ layout: ctx.layout, ledger: ctx.ledger, policy: ctx.environment.retention.backups, environment: ctx.environmentName });
    return [`backup ${backup.id} (${formatBytes(backup.size)})`, ...(pruned.pruned.length > 0 ? [`pruned ${pruned.pruned.length} old backups`] : [])];
  } catch (error) {
    ctx.progress(`warning: the post-update backup failed: ${(error as Error).message}`);
    return ['post-update backup FAILED (see above)'];
  }
}
