import { SlipwayError, usageError } from '../errors.js';
import { shortId } from '../release/manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import { readChannel, writeChannel } from '../store/channels.js';
import { checkSignaturePolicy } from '../store/channel-policy.js';
import { listReleases, type ReleaseInfo } from '../store/releases.js';
import { copyRelease, hasRelease } from '../store/release-transfer.js';
import { readHostStatuses, unhealthyReason, type HostStatusReport } from '../store/status-reports.js';
import { expiresAt, newPointer, openEnvironmentStore, pointerSigningKey } from './channel.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { printable } from '../util/terminal-text.js';
import { testedRun, describeData } from './promote-tested.js';

interface PromoteOptions {
  args: string[];
  force?: boolean;
  reason?: string;
  key?: string;
  expires?: string;
  json?: boolean;
  config?: string;
}

/**
 * `slipway promote <from-env> <to-env>`: points the target's channel at the
 * exact release the source runs — the one the source's channel names — once
 * every host of the source reports it current, healthy and deployed
 * successfully (its health window passed).
 * `--force` promotes anyway and says so in the pointer's `why`.
 */
export default async function promote(options: PromoteOptions, ctx: CliContext): Promise<CommandResult> {
  const [fromName, toName] = options.args;
  if (!fromName || !toName) throw usageError('ENVIRONMENT_REQUIRED', 'name the source and the target environment', { hint: 'e.g. `slipway promote staging production`' });
  if (fromName === toName) throw usageError('PROMOTE_SAME_ENVIRONMENT', `cannot promote ${fromName} to itself`, { hint: 'name two different environments' });
  const source = await openEnvironmentStore({ config: options.config, env: fromName }, ctx);
  const target = await openEnvironmentStore({ config: options.config, env: toName }, ctx);
  const app = source.project.config.app;
  const expires = expiresAt(options.expires);
  const signingKeyPem = await pointerSigningKey(ctx, target.project, target.environment, options.key);

  const reports = await readHostStatuses(source.store, app, fromName);
  const channel = await readChannel(source.store, app, fromName);
  const candidate = pickCandidate(reports, channel?.releaseId ?? null);
  if (!candidate) {
    throw new SlipwayError('PROMOTE_NOTHING_RUNS', `${fromName} runs no release that slipway knows of: no host status reports and no channel pointer`, {
      exitCode: 2,
      hint: `deploy to ${fromName} in pull mode first (its agents report to the store), or set ${toName} directly with \`slipway channel set ${toName} <version>\``,
    });
  }
  const problems = reports
    .map((report) => ({ report, reason: unhealthyReason(report, candidate) }))
    .filter((p): p is { report: HostStatusReport; reason: string } => p.reason !== null)
    .map(({ report, reason }) => `${report.host}: ${reason}${report.failedRelease?.id === candidate ? ` (it failed there: ${report.failedRelease.error})` : ''}`);
  if (reports.length === 0) problems.push(`no host of ${fromName} has reported its status (agents in pull mode report to the store)`);

  const release = (await listReleases(source.store, app)).find((r) => r.id === candidate);
  if (!release) {
    throw new SlipwayError('RELEASE_NOT_FOUND', `${fromName} runs release ${shortId(candidate)}, which is not in ${source.store.description}`, {
      hint: `publish it again, or promote another release with \`slipway channel set ${toName} <version>\``,
    });
  }
  const forced = problems.length > 0;
  // Versions and host reports come from the store: shown with control characters escaped.
  const version = printable(release.version);
  const shownProblems = problems.map(printable);
  if (forced && !options.force) {
    throw new SlipwayError('PROMOTE_NOT_HEALTHY', `${version} (${shortId(release.id)}) has not run healthy in ${fromName}; ${toName} was not changed`, {
      details: shownProblems,
      hint: reports.some((r) => r.failedRelease?.id === candidate)
        ? `it failed in ${fromName}, where it is not retried: publish a fixed release to ${fromName} first, or pass --force to promote it anyway (recorded in the channel history)`
        : `wait until ${fromName}'s hosts report it healthy (\`slipway status ${fromName}\`), or pass --force to promote it anyway (recorded in the channel history)`,
    });
  }
  checkSignaturePolicy(target.environment, release);
  await copyReleaseIfNeeded({ app, release, from: source.store, to: target.store, ctx });

  const before = await readChannel(target.store, app, toName);
  const healthyHosts = reports.filter((r) => unhealthyReason(r, candidate) === null).map((r) => r.host);
  let why = options.reason ?? `promote ${release.version} from ${fromName}`;
  if (forced) why += ` [--force: ${problems.join('; ')}]`;
  const tested = await testedRun({ source: source.environment, app, reports, releaseId: candidate, healthy: !forced }, ctx);
  const pointer = await writeChannel(target.store, app, newPointer(ctx, { environment: toName, release, why, expires }), { signingKeyPem, tested });

  if (options.json) {
    return jsonOutput({ ...pointer, from: fromName, forced, healthyHosts, previous: before ? { releaseId: before.releaseId, version: before.version } : null });
  }
  const evidence = forced ? `forced past: ${shownProblems.join('; ')}` : `it runs healthy in ${fromName} on ${healthyHosts.map(printable).join(', ')}`;
  return { stdout: `${toName} now points to ${version} (${shortId(release.id)})${before ? `, was ${printable(before.version)}` : ''} — ${evidence}${describeData(tested)}` };
}

/**
 * The release to promote: the one the source's channel names, which must then
 * run healthy on every host of the source. Not what the hosts happen to run:
 * when the channel's release failed there (the hosts kept the one before) or
 * an operator rolled back from it, promoting the older release instead would
 * silently ship something nobody asked for; refusing says what happened.
 * Without a channel (hosts deployed with `slipway deploy`), the release they run.
 */
function pickCandidate(reports: HostStatusReport[], channelReleaseId: string | null): string | null {
  if (channelReleaseId) return channelReleaseId;
  const running = new Set(reports.filter((r) => !r.problem && r.current).map((r) => r.current!.id));
  return running.size > 0 ? [...running][0]! : null;
}

/** When the environments use different stores, the target's agents need the release in theirs: the store's own copy, of what it lacks. */
async function copyReleaseIfNeeded(o: { app: string; release: ReleaseInfo; from: BlobStore; to: BlobStore; ctx: CliContext }): Promise<void> {
  if (o.from.description === o.to.description) return;
  if (await hasRelease(o.to, o.app, o.release.id)) return;
  o.ctx.progress(`copying ${printable(o.release.version)} (${shortId(o.release.id)}) to ${o.to.description}`);
  await copyRelease({ from: o.from, to: o.to, app: o.app, id: o.release.id });
}
