/**
 * `slipway status` with no environment, in a project of several: one line per environment
 * (version, health, how old its data is, its last change), `--json` an array of the same.
 * Local environments are read from their agent (or ledger); remote ones are asked over SSH
 * like `slipway status <env>` does, and an unreachable one is a line saying so, not a failure
 * of the whole table.
 */
import { promises as fs } from 'node:fs';
import { agentClient, isAgentRunning } from '../agent/control-client.js';
import { offlineStatus } from '../agent/status.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { defaultHostRoot, hostLayout } from '../host/layout.js';
import { openLedger } from '../host/ledger.js';
import { formatTable } from '../util/format.js';
import { printable } from '../util/terminal-text.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import type { LastChange } from './fleet-status.js';
import { ageSeconds, dataAgeOf, describeDataAgeShort, formatAge, oldestDataAge, parseDataAge, type DataAge } from '../host/data-age.js';
import { openStore } from '../store/open-store.js';
import { readHostStatuses, type HostStatusReport } from '../store/status-reports.js';

export interface EnvironmentLine {
  environment: string;
  /** 'local', or the ssh:// URL of its first host */
  host: string;
  url: string | null;
  current: { id: string; version: string | null } | null;
  health: string;
  /** how old the data is: from the newest successful data copy into it (the source backup's time), else its newest backup */
  dataAge: { source: 'copy' | 'backup'; at: string; seconds: number; from: string | null; backupId: string; copiedAt?: string; scrubbed?: boolean } | null;
  /** the newest deployment, rollback or restore (of a remote environment: the newest on any of its hosts) */
  lastChange: LastChange | null;
  /** why the line is short (a remote host that did not answer) */
  error?: string;
}

export async function statusAll(o: { project: LoadedProject; json: boolean }, ctx: CliContext): Promise<CommandResult> {
  const now = new Date();
  const lines = await Promise.all(o.project.config.environments.map((environment) => environmentLine(o.project, environment, now, ctx)));
  if (o.json) return jsonOutput(lines);
  const p = (text: string | null | undefined) => printable(text ?? '');
  const rows = lines.map((l) => [
    p(l.environment),
    p(l.current?.version ?? '-'),
    p(l.health),
    p(describeDataAgeShort(l.dataAge && { ...l.dataAge, environment: l.dataAge.from }, now)),
    l.lastChange ? `${p(l.lastChange.kind)} ${p(l.lastChange.to ?? '-')} ${p(l.lastChange.outcome ?? 'running')}, ${formatAge(l.lastChange.at, now)} ago` : '-',
    p(l.error ?? ''),
  ]);
  return { stdout: formatTable(['ENVIRONMENT', 'VERSION', 'HEALTH', 'DATA AGE', 'LAST CHANGE', ''], rows).trimEnd() };
}

async function environmentLine(project: LoadedProject, environment: EnvironmentConfig, now: Date, ctx: CliContext): Promise<EnvironmentLine> {
  if (environment.hosts.length > 0) return remoteLine(project, environment, now, ctx);
  const layout = hostLayout(environment.root ?? defaultHostRoot(project.config.app, environment.name));
  const hasLedger = await fs.stat(layout.ledgerFile).then(() => true, () => false);
  const report = (await isAgentRunning(layout.agentSocket)) ? await agentClient(layout.agentSocket).call('status') : await offlineStatus({ environment, layout });
  const line: EnvironmentLine = {
    environment: environment.name,
    host: environment.host,
    url: report.url,
    current: report.current,
    health: report.health,
    dataAge: null,
    lastChange: null,
  };
  if (!hasLedger) {
    // A pull-mode environment served from other servers (nothing of it on this machine before this status): its hosts
    // report to the store, as `status <env>` reads them.
    return environment.pull ? pulledLine(project, environment, line, now, ctx) : line;
  }
  const ledger = openLedger(layout.ledgerFile, { readonly: true });
  try {
    line.dataAge = lineDataAge(dataAgeOf(ledger, environment.name), now);
    const [last] = ledger.history(1);
    if (last) line.lastChange = { kind: last.kind, from: last.from, to: last.to, outcome: last.outcome, at: last.finishedAt ?? last.startedAt };
  } finally {
    ledger.close();
  }
  return line;
}

/** A remote environment as `slipway status <env> --json` reports it over SSH; its ledger stays on its hosts. */
async function remoteLine(project: LoadedProject, environment: EnvironmentConfig, now: Date, ctx: CliContext): Promise<EnvironmentLine> {
  const line: EnvironmentLine = { environment: environment.name, host: environment.host, url: null, current: null, health: 'unknown', dataAge: null, lastChange: null };
  try {
    const { statusFleet } = await import('./fleet-status.js');
    const result = await statusFleet({ project, environment, json: true, lastChange: true }, { ...ctx, progress: () => undefined });
    const report = JSON.parse(result.stdout ?? '{}') as { url?: string; current?: EnvironmentLine['current']; health?: string; dataAge?: unknown; lastChange?: LastChange | null };
    // The fleet's data age: the oldest its hosts report (each host's status carries its own); its last change: the newest on any host.
    return {
      ...line,
      url: report.url ?? null,
      current: report.current ?? null,
      health: report.health ?? 'unknown',
      dataAge: lineDataAge(parseDataAge(report.dataAge), now),
      lastChange: report.lastChange ?? null,
    };
  } catch (error) {
    return { ...line, health: 'unreachable', error: (error as Error).message };
  }
}

/**
 * A pull-mode environment whose hosts are elsewhere, from their newest reports in the store: the newest
 * report's release and health, the oldest data age any host reports, the newest change on any host.
 */
async function pulledLine(project: LoadedProject, environment: EnvironmentConfig, line: EnvironmentLine, now: Date, ctx: CliContext): Promise<EnvironmentLine> {
  let reports: HostStatusReport[];
  try {
    reports = await readHostStatuses(await openStore(environment.store, project.dir, ctx.env), project.config.app, environment.name);
  } catch (error) {
    return { ...line, health: 'unknown', error: `cannot read its hosts' reports from the store: ${(error as Error).message}` };
  }
  const readable = reports.filter((r) => r.problem === undefined);
  if (readable.length === 0) return { ...line, health: 'unknown', ...(reports.length === 0 ? { error: 'no host has reported to the store yet' } : {}) };
  const newest = readable.reduce((a, b) => (b.reportedAt > a.reportedAt ? b : a));
  const changes = readable.flatMap((r) => (r.lastDeployment ? [r.lastDeployment] : []));
  const last = changes.length === 0 ? null : changes.reduce((a, b) => ((b.finishedAt ?? b.startedAt) > (a.finishedAt ?? a.startedAt) ? b : a));
  return {
    ...line,
    host: readable.length === 1 ? readable[0]!.host : `${readable.length} hosts`,
    current: newest.current ? { id: newest.current.id, version: newest.current.version } : null,
    health: readable.every((r) => r.health === newest.health) ? newest.health : 'mixed',
    dataAge: lineDataAge(oldestDataAge(readable.map((r) => parseDataAge(r.dataAge))), now),
    lastChange: last ? { kind: last.kind, from: null, to: last.version, outcome: last.outcome, at: last.finishedAt ?? last.startedAt } : null,
  };
}

/** A host's DataAge as a line of the table shows it: with its age in seconds at `now`. */
function lineDataAge(age: DataAge | null, now: Date): EnvironmentLine['dataAge'] {
  if (!age) return null;
  return {
    source: age.source,
    at: age.at,
    seconds: ageSeconds(age.at, now),
    from: age.environment,
    backupId: age.backupId,
    ...(age.copiedAt ? { copiedAt: age.copiedAt } : {}),
    ...(age.scrubbed === undefined ? {} : { scrubbed: age.scrubbed }),
  };
}
