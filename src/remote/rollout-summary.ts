/** The table a rollout ends with: one row per host, then which host stopped it and why. */
import { formatTable } from '../util/format.js';
import type { RolloutSummary } from './rollout.js';

export function renderRolloutSummary(summary: RolloutSummary): string {
  const table = formatTable(
    ['HOST', 'FROM', 'TO', 'OUTCOME', 'DURATION'],
    summary.rows.map((row) => [row.host, row.from ?? '-', row.to, row.outcome, `${(row.durationMs / 1000).toFixed(1)}s`]),
  );
  const lines = [table, ''];
  // Each host is backed up once per rollout: say which backup its update took as its own.
  const told = summary.rows.filter((row) => row.backupReused !== undefined);
  if (told.length > 0) {
    lines.push('Backups taken first:');
    for (const row of told) lines.push(`  ${row.host}  ${row.backup}  ${row.backupReused ? "the update's own (not backed up again)" : 'not used: the update took a fresh one (see its backup step)'}`);
    lines.push('');
  }
  if (summary.failedHost === null) {
    lines.push(`Rollout finished: every host serves ${summary.target.version}.`);
  } else {
    const outcome = summary.rows.find((row) => row.host === summary.failedHost)?.outcome ?? 'failed';
    lines.push(`Rollout stopped: ${summary.failedHost} ${outcome}: ${summary.reason ?? 'no reason given'}`);
    // Other hosts' problems (a second failure in flight, a rollback that failed) need their own line.
    for (const row of summary.rows) {
      if (row.host !== summary.failedHost && row.reason !== undefined) lines.push(`  ${row.host}: ${row.outcome}: ${row.reason}`);
    }
  }
  return lines.join('\n');
}
