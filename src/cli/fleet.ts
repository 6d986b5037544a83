import { SlipwayError, usageError } from '../errors.js';
import type { EnvironmentConfig, LoadedProject, RemoteHostConfig } from '../config/types.js';
import { RemoteSlipway } from '../remote/remote-slipway.js';
import { sshSettingsFromEnv } from '../remote/ssh.js';
import { orderFleet } from '../remote/fleet-order.js';
import type { CliContext } from './context.js';

/** The environment's hosts in dependency levels (orderFleet), as slipway.yml names them. */
export function fleetLevels(environment: EnvironmentConfig): string[][] {
  return orderFleet(environment.hosts.map((h) => ({ name: h.name, services: h.services ?? [], dependsOn: h.dependsOn })));
}

/** The hosts a command works on: all of the environment's, or the one named by --host. */
export function selectHosts(environment: EnvironmentConfig, only: string | undefined): RemoteHostConfig[] {
  if (only === undefined) return environment.hosts;
  const host = environment.hosts.find((h) => h.name === only);
  if (!host) {
    throw usageError('HOST_UNKNOWN', `environment ${environment.name} has no host ${only}`, {
      hint: `its hosts: ${environment.hosts.map((h) => h.name).join(', ')}`,
    });
  }
  return [host];
}

/**
 * Opens one multiplexed SSH connection per host, all at once. When any host cannot
 * be reached nothing is left open and the error names every unreachable host.
 */
export async function connectHosts(project: LoadedProject, environment: EnvironmentConfig, hosts: RemoteHostConfig[], ctx: CliContext): Promise<RemoteSlipway[]> {
  const settings = sshSettingsFromEnv(ctx.env);
  const results = await Promise.allSettled(
    hosts.map((host) => RemoteSlipway.connect({ host, app: project.config.app, environment: environment.name, settings })),
  );
  const connected = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ host: hosts[i]!, error: r.reason as unknown }] : []));
  if (failed.length === 0) {
    const who = ctx.env.SLIPWAY_WHO ?? ctx.env.USER;
    if (who) for (const remote of connected) remote.who = who;
    return connected;
  }
  await closeHosts(connected);
  const first = failed[0]!.error;
  const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));
  throw new SlipwayError(
    first instanceof SlipwayError ? first.code : 'HOST_UNREACHABLE',
    failed.length === 1
      ? `cannot reach host ${failed[0]!.host.name} (${failed[0]!.host.ssh}): ${describe(first)}; nothing was started`
      : `cannot reach ${failed.length} hosts of ${environment.name}: ${failed.map((f) => f.host.name).join(', ')}; nothing was started`,
    {
      hint: first instanceof SlipwayError && first.hint ? first.hint : 'check the host is up and `ssh <user@host>` works from here',
      details: failed.map((f) => `${f.host.name}: ${describe(f.error)}`),
    },
  );
}

export async function closeHosts(hosts: RemoteSlipway[]): Promise<void> {
  await Promise.allSettled(hosts.map((h) => h.close()));
}
