/**
 * What `promote` records of the run the release was tested in (channels.ts TestedRun):
 * the source's hosts and their deployment of it (when it finished, whether its health
 * window passed), and the data it ran on: the source's newest successful data copy, read
 * from its ledger when the source is on this machine, else from what its hosts report.
 */
import { promises as fs } from 'node:fs';
import type { EnvironmentConfig } from '../config/types.js';
import { defaultHostRoot, hostLayout } from '../host/layout.js';
import { openLedger } from '../host/ledger.js';
import type { TestedRun } from '../store/channels.js';
import { unhealthyReason, type HostStatusReport } from '../store/status-reports.js';
import type { CliContext } from './context.js';
import { ageSeconds, formatAge, oldestDataAge, parseDataAge, type DataAge } from '../host/data-age.js';
import { remoteDataAges } from './remote-data-age.js';

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
    dataCopy: await lastDataCopy(o.source, o.app, o.reports, ctx),
  };
}

/**
 * The data the source ran on: its newest successful copy. Read from its ledger when it is on
 * this machine; from its hosts' status over SSH when they are remote (`hosts:`); else from its
 * hosts' status reports in the store (pull-mode hosts on other servers that report their data
 * age). With several hosts, the oldest copy any of them ran on. Null when none is known.
 */
async function lastDataCopy(source: EnvironmentConfig, app: string, reports: HostStatusReport[], ctx: CliContext): Promise<TestedRun['dataCopy']> {
  if (source.hosts.length > 0) {
    const asked = await remoteDataAges({ environment: source, app }, ctx);
    for (const host of asked.filter((h) => h.error !== undefined)) ctx.progress(`warning: cannot ask ${host.host} of ${source.name} how old its data is: ${host.error}`);
    return testedDataCopy(oldestCopy(asked.map((h) => h.dataAge)));
  }
  const layout = hostLayout(source.root ?? defaultHostRoot(app, source.name));
  if (!(await fs.stat(layout.ledgerFile).then(() => true, () => false))) {
    // Reports are read loosely: a field an agent adds reaches here as it wrote it.
    return testedDataCopy(oldestCopy(reports.map((r) => parseDataAge((r as { dataAge?: unknown }).dataAge))));
  }
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

/** The oldest of the hosts' data copies; a host whose data age comes from its own backup ran on no copy. */
function oldestCopy(ages: (DataAge | null)[]): DataAge | null {
  return oldestDataAge(ages.filter((age) => age?.source === 'copy'));
}

/** A host's data age, as the channel history records the copy a release was tested on. */
export function testedDataCopy(age: DataAge | null, now: Date = new Date()): TestedRun['dataCopy'] {
  if (!age || age.source !== 'copy') return null;
  return { from: age.environment, backupId: age.backupId, backupCreatedAt: age.at, copiedAt: age.copiedAt ?? null, ageSeconds: ageSeconds(age.at, now), scrubbed: age.scrubbed ?? false };
}

/** `; tested on a copy of production's data 3 h 2 min old (scrubbed)`, or nothing. */
export function describeData(tested: TestedRun): string {
  const copy = tested.dataCopy;
  if (!copy) return '';
  return `; tested on a copy of ${copy.from ?? 'another environment'}'s data ${formatAge(copy.backupCreatedAt)} old${copy.scrubbed ? ' (scrubbed)' : ' (NOT scrubbed)'}`;
}
