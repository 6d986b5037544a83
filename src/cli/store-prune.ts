import { usageError } from '../errors.js';
import { listChannelPointers } from '../store/channels.js';
import { pruneStore } from '../store/store-maintenance.js';
import { formatBytes } from '../util/format.js';
import { openTargetStore, type StoreCommandOptions } from './store-option.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

/** `slipway store prune`: old releases out of the store, then the contents no kept release needs. */
export default async function storePrune(options: StoreCommandOptions & { keep?: string }, ctx: CliContext): Promise<CommandResult> {
  const keep = options.keep === undefined ? 10 : Number(options.keep);
  if (!(Number.isInteger(keep) && keep >= 1)) throw usageError('USAGE', `--keep takes a whole number of at least 1, got ${options.keep}`);
  const { store, app } = await openTargetStore(options, ctx);
  const channelReleaseIds = new Set((await listChannelPointers(store, app)).map((p) => p.releaseId));
  const result = await pruneStore(store, app, { keep, channelReleaseIds, dryRun: options.dryRun });
  if (options.json) return jsonOutput(result);
  const verb = options.dryRun ? 'would remove' : 'removed';
  const lines = result.removed.map((r) => `${verb} ${r.version} (${r.id.slice(0, 12)})`);
  if (result.removed.length === 0) lines.push(`no release to remove (keeping the newest ${keep} and every release a channel points at)`);
  lines.push(
    `${verb} ${result.objects.deletedPacks} pack(s) no kept release needs (${formatBytes(result.objects.freedBytes)})` +
      (result.objects.unreferencedBytesKept > 0 ? `; ${formatBytes(result.objects.unreferencedBytesKept)} of unneeded contents stay inside packs that kept releases still use` : ''),
  );
  lines.push(`store: ${store.description}`);
  return { stdout: lines.join('\n') };
}

