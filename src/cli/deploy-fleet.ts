import { usageError } from '../errors.js';
import { shortId } from '../release/manifest.js';
import { openStore } from '../store/open-store.js';
import { resolveReleaseOrNewest } from '../store/releases.js';
import { runRollout, type HostDriver } from '../remote/rollout.js';
import { renderRolloutSummary } from '../remote/rollout-summary.js';
import { createRemoteHostDriver } from '../remote/remote-host-driver.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { closeHosts, connectHosts, fleetLevels, selectHosts } from './fleet.js';
import { confirmOrRefuse } from './prompt.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

export interface FleetDeployOptions {
  version?: string;
  yes?: boolean;
  reason?: string;
  parallel?: string;
  host?: string;
  json?: boolean;
}

/**
 * Deploys a release to every host of a remote environment: all hosts checked and
 * backed up first, then updated in dependency order; a failure stops the rollout
 * and rolls back, newest first, the hosts it already updated.
 */
export async function deployFleet(o: { project: LoadedProject; environment: EnvironmentConfig; options: FleetDeployOptions }, ctx: CliContext): Promise<CommandResult> {
  const { project, environment, options } = o;
  const parallel = options.parallel === undefined ? 1 : Number(options.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) throw usageError('USAGE', `--parallel takes a whole number of at least 1, got ${options.parallel}`);
  const hosts = selectHosts(environment, options.host);
  const levels = fleetLevels(environment).map((level) => level.filter((name) => hosts.some((h) => h.name === name))).filter((level) => level.length > 0);

  const store = await openStore(environment.store, project.dir);
  const release = await resolveReleaseOrNewest(store, project.config.app, options.version);
  const order = levels.map((level) => level.join(parallel > 1 && level.length > 1 ? ' | ' : ' → ')).join(' → ');
  ctx.progress(`${project.config.app} ${release.version} (${shortId(release.id)}) to ${environment.name}: ${hosts.length} host${hosts.length === 1 ? '' : 's'}, in this order: ${order}`);
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Deploy ${project.config.app} ${release.version} to ${environment.name} (${hosts.map((h) => h.name).join(', ')})?`,
    what: 'deploy',
  });
  if (!go) return { stdout: 'nothing deployed', exitCode: 1 };

  const remotes = await connectHosts(project, environment, hosts, ctx);
  try {
    const reason = options.reason ?? `deploy ${release.version}`;
    const drivers = new Map<string, HostDriver>(
      remotes.map((remote) => [
        remote.name,
        createRemoteHostDriver({ remote, app: project.config.app, target: { id: release.id, version: release.version }, sourceStore: store, storeConfig: environment.store, reason, onNote: (line) => ctx.progress(line) }),
      ]),
    );
    const summary = await runRollout({
      levels,
      drivers,
      parallel,
      target: { id: release.id, version: release.version },
      onEvent: (event) => {
        if (event.type === 'host-progress') ctx.progress(`  ${event.host} | ${event.line}`);
        else ctx.progress(event.message);
      },
    });
    if (options.json) return { ...jsonOutput(summary), exitCode: summary.ok ? 0 : 1 };
    return { stdout: renderRolloutSummary(summary), exitCode: summary.ok ? 0 : 1 };
  } finally {
    await closeHosts(remotes);
  }
}
