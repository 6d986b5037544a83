import { openEnvironment, connectAgent } from './environment.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface BackupOffsiteOptions {
  args: string[];
  json?: boolean;
  config?: string;
}

/** Copies every backup that has no off-site copy yet (the agent does it after each backup; this retries now). Exit 1 if one failed. */
export default async function backupOffsite(options: BackupOffsiteOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const agent = await connectAgent(opened, ctx);
  ctx.progress(`copying the backups of ${opened.environment.name} that have no off-site copy yet…`);
  const result = await agent.call('backupOffsite');
  const exitCode = result.failed ? 1 : 0;
  if (options.json) return { ...jsonOutput(result), exitCode };
  const lines = [result.copied.length ? `copied off-site: ${result.copied.join(', ')}` : 'nothing to copy: every backup has an off-site copy'];
  if (result.failed) {
    lines.push(`FAILED${result.failed.id ? ` for backup ${result.failed.id}` : ''}: ${result.failed.error.message}${result.left ? ` (${result.left} more not tried)` : ''}`);
    if (result.failed.error.hint) lines.push(`hint: ${result.failed.error.hint}`);
  }
  return { stdout: lines.join('\n'), exitCode };
}
