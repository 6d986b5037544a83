/** The update plan for people: what changes, what it costs, and what to do when it is refused. */
import { formatBytes } from '../util/format.js';
import type { UpdatePlan } from './plan.js';

const DIRECTION_WORDS: Record<UpdatePlan['direction'], string> = {
  upgrade: 'upgrade',
  downgrade: 'downgrade',
  same: 'same release again',
  first: 'first deploy',
};

export function renderPlanText(plan: UpdatePlan): string {
  const lines: string[] = [];
  const from = plan.from ? `${plan.from.version} (${plan.from.id.slice(0, 12)})` : 'nothing deployed';
  lines.push(`${plan.kind === 'rollback' ? 'Rollback' : 'Update'} plan for ${plan.environment}: ${from} → ${plan.to.version} (${plan.to.id.slice(0, 12)}), ${DIRECTION_WORDS[plan.direction]}`);

  lines.push('', 'Release notes');
  if (plan.notes.length === 0) {
    lines.push(plan.direction === 'downgrade' ? '  (going back: no new release notes)' : '  (no new releases)');
  }
  for (const entry of plan.notes) {
    lines.push(`  ${entry.version}`);
    const text = entry.notes.trim();
    if (text === '') lines.push('    (no notes)');
    else for (const line of text.split('\n')) lines.push(`    ${line}`.trimEnd());
  }

  lines.push('', 'Config');
  const list = (keys: string[]) => (keys.length > 0 ? keys.join(', ') : '-');
  lines.push(`  missing on this host  ${list(plan.config.missing)}`);
  lines.push(`  new keys              ${list(plan.config.added)}`);
  lines.push(`  removed keys          ${list(plan.config.removed)}`);
  if (plan.config.renamed.length > 0) {
    lines.push(`  renamed?              ${plan.config.renamed.map((r) => `${r.from} → ${r.to}`).join(', ')}`);
  }

  lines.push('', 'Data');
  lines.push(`  migrations  ${migrationsLine(plan)}`);
  lines.push(`  downtime    ${downtimeLine(plan)}`);
  const b = plan.backup;
  lines.push(
    `  disk        backup ~${formatBytes(b.estimateBytes)}, release ${formatBytes(b.releaseBytes)}; needs ~${formatBytes(b.neededBytes)}, ${formatBytes(b.freeBytes)} free: ${b.fits ? 'fits' : 'DOES NOT FIT'}`,
  );

  if (plan.upgradePath && plan.upgradePath.length > 1) {
    lines.push('', 'Upgrade path', `  ${[plan.from?.version ?? '', ...plan.upgradePath].join(' → ')}`);
  }

  lines.push('', 'Steps');
  const width = Math.max(...plan.steps.map((s) => s.indexOf(':')));
  plan.steps.forEach((step, index) => {
    const colon = step.indexOf(':');
    lines.push(`  ${String(index + 1).padStart(2)}. ${step.slice(0, colon).padEnd(width)}  ${step.slice(colon + 1).trim()}`);
  });

  lines.push('');
  if (plan.blockers.length === 0) {
    lines.push(
      plan.kind === 'rollback'
        ? `Ready: \`slipway rollback ${plan.environment} --to ${plan.to.version}\` does this.`
        : `Ready: \`slipway deploy ${plan.environment} --version ${plan.to.version}\` does this.`,
    );
  } else {
    lines.push(`Blocked: slipway refuses this ${plan.kind} (${plan.blockers.length} problem${plan.blockers.length === 1 ? '' : 's'}); nothing was changed.`);
    for (const blocker of plan.blockers) lines.push(`  ✗ ${blocker}`);
    lines.push('', 'What to do next');
    plan.nextSteps.forEach((step, index) => lines.push(`  ${index + 1}. ${step}`));
  }
  return `${lines.join('\n')}\n`;
}

function migrationsLine(plan: UpdatePlan): string {
  if (!plan.migrations.runs) return 'none run';
  const command = `\`${plan.migrations.command}\``;
  // A first deploy has no earlier data and so no backup before it: undoing it cannot bring anything back.
  if (!plan.from) return `${command} runs before ${plan.to.version} starts (a first deploy runs it too; there is no earlier data to back up or go back to)`;
  return `${command} runs; ${plan.migrations.reversible ? 'reversible' : 'not reversible (undoing it restores the backup taken just before)'}`;
}

function downtimeLine(plan: UpdatePlan): string {
  if (plan.downtime === 'maintenance-window') {
    return plan.migrations.runs ? 'maintenance window: writes are held while the data changes' : 'maintenance window: requests are held while the data is restored';
  }
  if (!plan.from) return `none: nothing serves yet; the app answers once ${plan.to.version} passes its health check`;
  return 'none (blue/green switch)';
}
