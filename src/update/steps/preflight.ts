import { formatBytes } from '../../util/format.js';
import { planForUpdate } from '../plan-update.js';
import { planRefusal } from '../../plan/plan.js';
import type { UpdateStep } from '../context.js';

/** Step 3: refuse what would break before anything changes: the same plan `slipway plan` prints. */
export const preflightStep: UpdateStep = {
  name: 'preflight',
  async run(ctx) {
    const plan = await planForUpdate(ctx);
    const refusal = planRefusal(plan);
    if (refusal) throw refusal;
    // The CLI shows the whole plan (notes included) before it asks; here one line says it was checked.
    const versions = plan.notes.map((n) => n.version).join(', ');
    return { outcome: 'done', detail: `config ok, ${formatBytes(plan.backup.freeBytes)} free${versions ? `, notes of ${versions} shown` : ''}` };
  },
};
