import { usageError } from '../errors.js';
import { openEnvironment, connectAgent } from './environment.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface PruneOptions {
  args: string[];
  keep?: string;
  dryRun?: boolean;
  json?: boolean;
  config?: string;
}

/** Removes old releases from the host, keeping N (never the current or previous one). */
export default async function prune(options: PruneOptions, ctx: CliContext): Promise<CommandResult> {
  const keep = options.keep === undefined ? undefined : Number(options.keep);
  // The current and previous releases are kept whatever --keep says, so 0 is allowed.
  if (keep !== undefined && !(Number.isInteger(keep) && keep >= 0)) throw usageError('USAGE', `--keep takes a whole number, got ${options.keep}`);
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const agent = await connectAgent(opened, ctx);
  const result = await agent.call('prune', {
    keep,
    dryRun: Boolean(options.dryRun),
  });
  if (options.json) return jsonOutput(result);
  if (result.removed.length === 0) return { stdout: `nothing to prune (keeping ${result.keep})` };
  const verb = options.dryRun ? 'would remove' : 'removed';
  return { stdout: result.removed.map((r) => `${verb} ${r.version} (${r.id.slice(0, 12)})`).join('\n') };
}
