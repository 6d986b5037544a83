/**
 * What `promote` records of the run the release was tested in (channels.ts TestedRun):
 * the source's hosts and their deployment of it (when it finished, whether its health
 * window passed), and the data it ran on: the source's newest successful data copy, read
 * from its ledger when the source is on this machine.
 */
import { promises as fs } from 'node:fs';
import type { EnvironmentConfig } from '../config/types.js';
import { defaultHostRoot, hostLayout } from '../host/layout.js';
import { openLedger } from '../host/ledger.js';
import type { TestedRun } from '../store/channels.js';
import { unhealthyReason, type HostStatusReport } from '../store/status-reports.js';
import type { CliContext } from './context.js';
import { ageSeconds, formatAge } from '../host/data-age.js';

export async function testedRun(o: { source: EnvironmentConfig; app: string; reports: HostStatusReport[]; releaseId: string; healthy: boolean }, ctx: CliContext): Promise<TestedRun> {
  const hosts = o.reports
    .filter((r) => r.current?.id === o.releaseId)
    .map((r) => ({
      host: r.host,
      deploymentId: r.currentDeployment?.id ?? null,
      outcome: r.currentDeployment?.outcome ?? null,
      finishedAt: r.currentDeployment?.finishedAt ?? null,
      health: r.health,
    }));
  const finished = hosts.map((h) => h.finishedAt).filter((at): at is string => at !== null).sort();
  return {
    environment: o.source.name,
    at: finished.at(-1) ?? null,
    healthWindowPassed: o.healthy && o.reports.length > 0 && o.reports.every((r) => unhealthyReason(r, o.releaseId) === null),
    hosts,
    dataCopy: await lastDataCopy(o.source, o.app, ctx),
  };
}

/** The source's newest successful copy, when its ledger is on this machine; null otherwise (a remote source's hosts do not report it yet). */
async function lastDataCopy(source: EnvironmentConfig, app: string, ctx: CliContext): Promise<TestedRun['dataCopy']> {
  if (source.hosts.length > 0) return null;
  const layout = hostLayout(source.root ?? defaultHostRoot(app, source.name));
  if (!(await fs.stat(layout.ledgerFile).then(() => true, () => false))) return null;
  try {
    const ledger = openLedger(layout.ledgerFile, { readonly: true });
    try {
      const [copy] = ledger.listDataCopies({ outcome: 'succeeded', limit: 1 });
      if (!copy || !copy.backupId || !copy.backupCreatedAt) return null;
      return { from: copy.sourceEnvironment, backupId: copy.backupId, backupCreatedAt: copy.backupCreatedAt, copiedAt: copy.finishedAt, ageSeconds: ageSeconds(copy.backupCreatedAt), scrubbed: copy.scrubbed };
    } finally {
      ledger.close();
    }
  } catch (error) {
    ctx.progress(`warning: cannot read ${source.name}'s data copies: ${(error as Error).message}`);
    return null;
  }
}

/** `; tested on a copy of production's data 3 h 2 min old (scrubbed)`, or nothing. */
export function describeData(tested: TestedRun): string {
  const copy = tested.dataCopy;
  if (!copy) return '';
  return `; tested on a copy of ${copy.from ?? 'another environment'}'s data ${formatAge(copy.backupCreatedAt)} old${copy.scrubbed ? ' (scrubbed)' : ' (NOT scrubbed)'}`;
}
