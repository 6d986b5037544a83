import { usageError } from '../errors.js';
import { shortId } from '../release/manifest.js';
import { openStore } from '../store/open-store.js';
import { resolveReleaseOrNewest } from '../store/releases.js';
import { openAnyEnvironment, connectAgent } from './environment.js';
import { confirmOrRefuse } from './prompt.js';
import { planUpdate } from '../update/plan-update.js';
import { planRefusal } from '../plan/plan.js';
import { renderPlanText } from '../plan/render.js';
import { printUpdateEvent, updateFailure } from './update-output.js';
import type { CliContext, CommandResult } from './context.js';
import { whoAmI } from './who.js';
import { printable, printableLines } from '../util/terminal-text.js';

interface DeployOptions {
  args: string[];
  version?: string;
  yes?: boolean;
  allowOlder?: boolean;
  reason?: string;
  config?: string;
  parallel?: string;
  host?: string;
  /** false with --no-plan */
  plan?: boolean;
  json?: boolean;
  /** hidden --use-backup <id>: a fleet rollout hands each host the backup it took of it first (steps/backup.ts checks it) */
  useBackup?: string;
}

/** Deploys a release to an environment; exit 0 only when it serves and is healthy. */
export default async function deploy(options: DeployOptions, ctx: CliContext): Promise<CommandResult> {
  const target = await openAnyEnvironment({ config: options.config, env: options.args[0] }, ctx);
  if (target.remote) {
    if (options.useBackup !== undefined) throw usageError('USAGE', '--use-backup is what a fleet rollout tells one host; a rollout takes its backups itself');
    const { deployFleet } = await import('./deploy-fleet.js');
    return deployFleet({ project: target.project, environment: target.environment, options }, ctx);
  }
  const opened = target;
  const { project, environment } = opened;
  const store = await openStore(environment.store, project.dir);
  const release = await resolveReleaseOrNewest(store, project.config.app, options.version);
  // Show what will happen (notes, config, migrations, downtime) and refuse early what preflight would refuse.
  const plan = await planUpdate({ ...opened, store, version: release.id, kind: 'deploy', allowOlder: Boolean(options.allowOlder), processEnv: ctx.env });
  // Versions and release notes come from the store: shown with control characters escaped.
  if (options.plan !== false) ctx.progress(printableLines(renderPlanText(plan).trimEnd()));
  const refusal = planRefusal(plan);
  if (refusal) throw refusal;
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Deploy ${project.config.app} ${printable(release.version)} (${shortId(release.id)}) to ${environment.name}?`,
    what: 'deploy',
  });
  if (!go) return { stdout: 'nothing deployed', exitCode: 1 };

  const agent = await connectAgent(opened, ctx);
  const version = printable(release.version);
  ctx.progress(`deploying ${project.config.app} ${version} (${shortId(release.id)}) to ${environment.name}`);
  const started = performance.now();
  const result = await agent.stream(
    'deploy',
    { releaseId: release.id, version: release.version, who: whoAmI(ctx), reason: options.reason ?? `deploy ${release.version}`, allowOlder: Boolean(options.allowOlder), ...(options.useBackup ? { rolloutBackupId: options.useBackup } : {}) },
    (event) => printUpdateEvent(ctx, event),
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (!result.ok) {
    const status = await agent.call('status').catch(() => null);
    const serving = status?.current ? `${status.current.version === null ? shortId(status.current.id) : printable(status.current.version)} is serving` : 'no release is serving';
    throw updateFailure(result, serving);
  }
  const status = await agent.call('status');
  return { stdout: `${environment.name} now serves ${version} (${shortId(release.id)}) at ${status.url} — ${seconds} s` };
}

// Other commands import it from here.
export { whoAmI };
