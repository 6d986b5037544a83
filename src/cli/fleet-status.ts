import { SlipwayError } from '../errors.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { ContractStatusSchema, describeIssues, type ContractStatus } from '../agent/api.js';
import { RemoteSlipway } from '../remote/remote-slipway.js';
import { sshSettingsFromEnv } from '../remote/ssh.js';
import { fleetLevels, selectHosts } from './fleet.js';
import { formatTable } from '../util/format.js';
import { printable } from '../util/terminal-text.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { describeDataAge, describeDataAgeShort, oldestDataAge, parseDataAge, type DataAge } from '../host/data-age.js';

type Release = ContractStatus['current'];

interface HostStatus {
  host: string;
  ssh: string;
  reachable: boolean;
  error?: string;
  url?: string;
  current?: Release;
  previous?: Release;
  health?: string;
  lock?: ContractStatus['lock'];
  maintenance?: ContractStatus['maintenance'];
  /** how old this host's data is (its newest data copy, else its newest backup); null from a host whose slipway reports none */
  dataAge?: DataAge | null;
  /** its newest deployment, rollback or restore (asked only with `lastChange`) */
  lastChange?: LastChange | null;
}

/** An environment's newest deployment, rollback or restore, as `status` of every environment shows it. */
export interface LastChange {
  kind: string;
  from: string | null;
  to: string | null;
  outcome: string | null;
  at: string;
}

/** The newest entry of a host's `slipway history --json`, or null for a host with no history (or an unexpected answer). */
function lastChangeOf(printed: unknown): LastChange | null {
  const [entry] = Array.isArray(printed) ? (printed as Record<string, unknown>[]) : [];
  if (!entry || typeof entry.kind !== 'string' || typeof entry.startedAt !== 'string') return null;
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  return { kind: entry.kind, from: text(entry.from), to: text(entry.to), outcome: text(entry.outcome), at: text(entry.finishedAt) ?? entry.startedAt };
}

/**
 * Status of every host of a remote environment, asked in parallel. The contract's
 * top-level fields describe the fleet: `current` is the release every host serves
 * (null when they differ), `health` is healthy only when every host is.
 * Exit code 1 when a host cannot be reached. With `lastChange`, each host is also asked for its
 * newest history entry (one more command on the same connection), and the report carries the
 * newest of them.
 */
export async function statusFleet(o: { project: LoadedProject; environment: EnvironmentConfig; host?: string; json?: boolean; lastChange?: boolean }, ctx: CliContext): Promise<CommandResult> {
  const { project, environment } = o;
  const hosts = selectHosts(environment, o.host);
  const settings = sshSettingsFromEnv(ctx.env);
  const order = fleetLevels(environment).flat();
  const statuses = await Promise.all(
    hosts.map(async (host): Promise<HostStatus> => {
      let remote: RemoteSlipway | null = null;
      try {
        remote = await RemoteSlipway.connect({ host, app: project.config.app, environment: environment.name, settings });
        const printed = await remote.slipwayJson<unknown>(['status', environment.name]);
        const parsed = ContractStatusSchema.safeParse(printed);
        if (!parsed.success) {
          throw new SlipwayError('REMOTE_OUTPUT_INVALID', `\`slipway status\` on ${host.name} printed an unexpected report: ${describeIssues(parsed.error)[0]}`, {
            hint: `is slipway on ${host.name} the same version? run \`slipway setup ${environment.name}\``,
          });
        }
        const s = parsed.data;
        const dataAge = parseDataAge((printed as { dataAge?: unknown }).dataAge);
        // A secondary column: a host whose history cannot be read shows none rather than failing its status.
        const lastChange = o.lastChange ? await remote.slipwayJson<unknown>(['history', environment.name, '--limit', '1']).then(lastChangeOf, () => null) : undefined;
        return {
          host: host.name,
          ssh: host.ssh,
          reachable: true,
          url: s.url,
          current: s.current,
          previous: s.previous,
          health: s.health,
          lock: s.lock,
          maintenance: s.maintenance,
          dataAge,
          ...(lastChange === undefined ? {} : { lastChange }),
        };
      } catch (error) {
        return { host: host.name, ssh: host.ssh, reachable: false, error: (error as Error).message };
      } finally {
        await remote?.close();
      }
    }),
  );
  statuses.sort((a, b) => order.indexOf(a.host) - order.indexOf(b.host));
  const same = (pick: (s: HostStatus) => Release | undefined): Release => {
    const ids = new Set(statuses.map((s) => (s.reachable ? (pick(s)?.id ?? null) : 'unknown')));
    return ids.size === 1 && statuses[0]?.reachable ? (pick(statuses[0]) ?? null) : null;
  };
  const unreachable = statuses.filter((s) => !s.reachable);
  const unhealthy = statuses.filter((s) => s.reachable && s.health !== 'healthy');
  const report = {
    environment: environment.name,
    url: statuses.find((s) => s.url)?.url ?? null,
    current: same((s) => s.current),
    previous: same((s) => s.previous),
    health: unreachable.length > 0 ? `unreachable: ${unreachable.map((s) => s.host).join(', ')}` : unhealthy.length > 0 ? `unhealthy: ${unhealthy.map((s) => s.host).join(', ')}` : 'healthy',
    lock: statuses.find((s) => s.lock)?.lock ?? null,
    maintenance: statuses.find((s) => s.maintenance)?.maintenance ?? null,
    hosts: statuses,
    // Added after the contract's fields: the oldest data any host reports.
    dataAge: oldestDataAge(statuses.map((s) => s.dataAge)),
    // and, when asked, the newest change on any host.
    ...(o.lastChange ? { lastChange: newestChange(statuses.map((s) => s.lastChange)) } : {}),
  };
  const exitCode = unreachable.length > 0 ? 1 : 0;
  if (o.json) return { ...jsonOutput(report), exitCode };
  // What hosts report (versions from the store, their health, URL and errors) is shown with control characters escaped.
  const shown = (text: string | null | undefined) => (text === undefined || text === null ? '-' : printable(text));
  const lines = [
    `${project.config.app} ${environment.name}: ${report.current ? shown(report.current.version) : 'hosts differ or nothing deployed'} — ${report.health}`,
    `  data  ${shown(describeDataAge(report.dataAge))}`,
    '',
    formatTable(
      ['HOST', 'CURRENT', 'PREVIOUS', 'HEALTH', 'URL', 'DATA AGE'],
      statuses.map((s) =>
        s.reachable ? [s.host, shown(s.current?.version), shown(s.previous?.version), shown(s.health), shown(s.url), shown(describeDataAgeShort(s.dataAge ?? null))] : [s.host, '?', '?', `unreachable: ${shown(s.error)}`, '-', '-'],
      ),
    ),
  ];
  return { stdout: lines.join('\n'), exitCode };
}

/** The newest of the hosts' last changes (by when it ended, or started when it still runs). */
function newestChange(changes: (LastChange | null | undefined)[]): LastChange | null {
  let newest: LastChange | null = null;
  for (const change of changes) if (change && (newest === null || change.at > newest.at)) newest = change;
  return newest;
}
