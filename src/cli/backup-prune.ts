import { openEnvironment, connectAgent } from './environment.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface BackupPruneOptions {
  args: string[];
  dryRun?: boolean;
  json?: boolean;
  config?: string;
}

/** Removes backups the retention policy no longer keeps (never the newest verified one, never one an update needs). */
export default async function backupPrune(options: BackupPruneOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const agent = await connectAgent(opened, ctx);
  const result = await agent.call('backupPrune', { dryRun: Boolean(options.dryRun) });
  if (options.json) return jsonOutput(result);
  if (result.pruned.length === 0) return { stdout: `nothing to prune (${result.kept.length} backups kept by the retention policy)` };
  const verb = options.dryRun ? 'would remove' : 'removed';
  return { stdout: result.pruned.map((b) => `${verb} ${b.id} (${b.reason}, ${b.createdAt})`).join('\n') };
}
