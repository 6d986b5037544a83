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
}

/**
 * Status of every host of a remote environment, asked in parallel. The contract's
 * top-level fields describe the fleet: `current` is the release every host serves
 * (null when they differ), `health` is healthy only when every host is.
 * Exit code 1 when a host cannot be reached.
 */
export async function statusFleet(o: { project: LoadedProject; environment: EnvironmentConfig; host?: string; json?: boolean }, ctx: CliContext): Promise<CommandResult> {
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
        return { host: host.name, ssh: host.ssh, reachable: true, url: s.url, current: s.current, previous: s.previous, health: s.health, lock: s.lock, maintenance: s.maintenance, dataAge };
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
