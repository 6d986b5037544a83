import { migrateStoreToObjects } from '../store/store-maintenance.js';
import { formatBytes } from '../util/format.js';
import { openTargetStore, type StoreCommandOptions } from './store-option.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

/** `slipway store migrate`: releases stored as one archive move to content objects. */
export default async function storeMigrate(options: StoreCommandOptions, ctx: CliContext): Promise<CommandResult> {
  const { store, app } = await openTargetStore(options, ctx);
  const result = await migrateStoreToObjects(store, app, { dryRun: options.dryRun, onRelease: (version) => ctx.progress(`moving ${version} to content objects`) });
  if (options.json) return jsonOutput(result);
  const verb = options.dryRun ? 'would move' : 'moved';
  const lines = result.migrated.map((r) => `${verb} ${r.version} (${r.id.slice(0, 12)})${options.dryRun ? '' : `: ${formatBytes(r.addedBytes)} of new contents`}`);
  lines.push(`${result.migrated.length} release(s) ${verb}; ${result.alreadyObjects} already stored as content objects (${store.description})`);
  return { stdout: lines.join('\n') };
}
