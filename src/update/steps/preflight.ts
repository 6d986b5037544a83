import { assertAccessoriesRunning } from '../../data/accessory-check.js';
import { formatBytes } from '../../util/format.js';
import { planRefusal } from '../../plan/plan.js';
import type { UpdateStep } from '../context.js';
import { plural } from '../../plan/plan.js';

/** Step 3: refuse what would break before anything changes: the same plan `slipway plan` prints. */
export const preflightStep: UpdateStep = {
  name: 'preflight',
  leavesNothingToUndo: true,
  describe: ({ input, direction }) => ({
    step: 'preflight',
    runs: true,
    what: `check config (${plural(input.target.runtime.config.filter((k) => k.required).length, 'required key')}), disk space${direction === 'upgrade' ? ' and upgrade path' : ''}`,
  }),
  async run(ctx) {
    const plan = await ctx.plan();
    const refusal = planRefusal(plan);
    if (refusal) throw refusal;
    // A database in an accessory must be up before the backup, the migration or a restore touches it.
    for (const release of [ctx.from, ctx.to]) {
      if (!release?.manifest) continue;
      await assertAccessoriesRunning({
        app: ctx.app,
        environment: ctx.environmentName,
        data: release.manifest.runtime.data,
        doing: ctx.restore ? `restore backup ${ctx.restore.backupId}` : ctx.kind,
      });
    }
    // The CLI shows the whole plan (notes included) before it asks; here one line says it was checked.
    const versions = plan.notes.map((n) => n.version).join(', ');
    return { outcome: 'done', detail: `config ok, ${formatBytes(plan.backup.freeBytes)} free${versions ? `, notes of ${versions} shown` : ''}` };
  },
};
