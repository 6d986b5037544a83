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
import { ageSeconds, dataAgeOf, describeDataAgeShort, formatAge, parseDataAge, type DataAge } from '../host/data-age.js';

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
  if (!(await fs.stat(layout.ledgerFile).then(() => true, () => false))) return line;
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
