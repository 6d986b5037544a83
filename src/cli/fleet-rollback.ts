import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { remoteRollbackHost, rollbackOrder, runFleetRollback, type FleetRollbackSummary } from '../remote/fleet-rollback.js';
import { closeHosts, connectHosts, fleetLevels, selectHosts } from './fleet.js';
import { formatTable } from '../util/format.js';
import { confirmOrRefuse } from './prompt.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

export interface FleetRollbackOptions {
  to?: string;
  withData?: boolean;
  yes?: boolean;
  reason?: string;
  host?: string;
  json?: boolean;
}

/**
 * Rolls back every host of a remote environment, in reverse dependency order
 * (the apps before the auth service they need). A host that fails is reported;
 * the others still go back, since a fleet half rolled back is worse.
 * The loop is remote/fleet-rollback.ts's; this command asks, connects and reports.
 */
export async function rollbackFleet(o: { project: LoadedProject; environment: EnvironmentConfig; options: FleetRollbackOptions }, ctx: CliContext): Promise<CommandResult> {
  const { project, environment, options } = o;
  const hosts = selectHosts(environment, options.host);
  const order = rollbackOrder(
    fleetLevels(environment),
    hosts.map((h) => h.name),
  );
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Roll ${environment.name} back on ${order.join(', ')} (in that order) to ${options.to ?? 'the previous release'}${options.withData ? ', restoring the data from before the update' : ''}?`,
    what: 'rollback',
  });
  if (!go) return { stdout: 'nothing changed', exitCode: 1 };
  const remotes = await connectHosts(project, environment, hosts, ctx);
  let summary: FleetRollbackSummary;
  try {
    summary = await runFleetRollback({
      order,
      hosts: new Map(remotes.map((remote) => [remote.name, remoteRollbackHost(remote)])),
      request: {
        ...(options.to === undefined ? {} : { to: options.to }),
        ...(options.withData ? { withData: true } : {}),
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      },
      onEvent: (event) => ctx.progress(event.message),
    });
  } finally {
    await closeHosts(remotes);
  }
  const { ok, refused, rows } = summary;
  // Every host refused, so nothing changed anywhere: a usage error, as the same request is on one host.
  const exitCode = ok ? 0 : refused ? 2 : 1;
  if (options.json) return { ...jsonOutput({ ok, rows }), exitCode };
  const table = formatTable(['HOST', 'FROM', 'TO', 'OUTCOME', 'DURATION'], rows.map((r) => [r.host, r.from ?? '-', r.to ?? '-', r.outcome, `${(r.durationMs / 1000).toFixed(1)}s`]));
  const failures = rows.filter((r) => r.reason).map((r) => `${r.host}: ${r.reason}`);
  const hints = [...new Set(rows.flatMap((r) => (r.hint ? [r.hint] : [])))];
  const verdict = ok ? `${environment.name}: every host rolled back.` : refused ? `Every host refused; nothing changed:` : `Rollback incomplete:`;
  return { stdout: [table, '', verdict, ...failures.map((f) => `  ${f}`), ...hints.map((h) => `hint: ${h}`)].join('\n'), exitCode };
}
