/**
 * How old a remote environment's data is, asked of its hosts: each runs `slipway status
 * <env> --json` over SSH, whose report carries the host's own dataAge (its ledger's newest
 * data copy, else its newest backup; src/host/data-age.ts). Used by `promote` for a
 * source whose hosts are reached over SSH (its ledgers are there, not here).
 */
import type { EnvironmentConfig } from '../config/types.js';
import { parseDataAge, type DataAge } from '../host/data-age.js';
import { RemoteSlipway } from '../remote/remote-slipway.js';
import { sshSettingsFromEnv } from '../remote/ssh.js';
import type { CliContext } from './context.js';

export interface HostDataAge {
  host: string;
  /** null: the host has no data copy nor backup, or its slipway reports no data age */
  dataAge: DataAge | null;
  /** why the host could not be asked */
  error?: string;
}

/** Every host of `environment`, asked in parallel; a host that cannot be reached is an entry with its error, not a failure. */
export async function remoteDataAges(o: { environment: EnvironmentConfig; app: string }, ctx: CliContext): Promise<HostDataAge[]> {
  const settings = sshSettingsFromEnv(ctx.env);
  return Promise.all(
    o.environment.hosts.map(async (host): Promise<HostDataAge> => {
      let remote: RemoteSlipway | null = null;
      try {
        remote = await RemoteSlipway.connect({ host, app: o.app, environment: o.environment.name, settings });
        const report = await remote.slipwayJson<{ dataAge?: unknown }>(['status', o.environment.name]);
        return { host: host.name, dataAge: parseDataAge(report.dataAge) };
      } catch (error) {
        return { host: host.name, dataAge: null, error: (error as Error).message };
      } finally {
        await remote?.close();
      }
    }),
  );
}
