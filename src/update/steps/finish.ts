import { formatBytes } from '../../util/format.js';
import { hasData, pruneBackups } from '../../data/index.js';
import { releaseLock } from '../../host/lock.js';
import { pruneReleases } from '../../host/prune.js';
import { backupReleaseData, targetManifest, type UpdateContext, type UpdateStep } from '../context.js';
import { dataParts } from '../../plan/plan.js';

/**
 * Step 10: the old release goes into standby or stops (it stays on disk), a backup tagged with the
 * new release is taken, old releases and backups are pruned, the lock goes.
 * The update has already succeeded here: a failed post-update backup is reported, not undone.
 */
export const finishStep: UpdateStep = {
  name: 'finish',
  describe({ input }) {
    const { current, target } = input;
    // The post-update backup is of the target's data, and only after a deploy.
    const after = input.kind === 'deploy' && !input.restoresBackup ? dataParts(target) : [];
    const parts = [
      current ? `take ${current.version} out of service (its release stays on disk for a rollback)` : '',
      after.length > 0 ? `back up ${after.join(' and ')} of ${target.version}` : '',
      'prune old releases, unlock',
    ];
    return { step: 'finish', runs: true, what: parts.filter(Boolean).join(', ') };
  },
  async run(ctx) {
    const notes: string[] = [];
    const { replaced, started } = ctx.running;
    if (replaced && replaced !== started) {
      if (ctx.restore) {
        // Its data was swapped under it (a restore): a process that may hold the replaced files open is no standby.
        notes.push(`${await ctx.runtime.stop(replaced)} (not kept warm: the data was restored under it)`);
      } else {
        notes.push(await ctx.runtime.retire(replaced));
      }
    }
    notes.push(...(await postUpdateBackup(ctx)));
    const pruned = await pruneReleases({ layout: ctx.layout, ledger: ctx.ledger, keep: ctx.environment.retention.releases, environment: ctx.environmentName });
    if (pruned.length > 0) notes.push(`pruned ${pruned.length} old release${pruned.length === 1 ? '' : 's'}`);
    if (ctx.facts.lock) await releaseLock(ctx.layout.lockFile, ctx.facts.lock.token);
    ctx.facts.lock = undefined;
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
