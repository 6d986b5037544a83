/**
 * `slipway status [env]`: one environment (named, or the project's only one) is status.ts;
 * no name in a project of several is the table of every environment (status-all.ts).
 */
import { loadProject } from '../config/load.js';
import type { CliContext, CommandResult } from './context.js';

interface StatusDispatchOptions {
  args: string[];
  json?: boolean;
  config?: string;
  host?: string;
}

export default async function statusCommand(options: StatusDispatchOptions, ctx: CliContext): Promise<CommandResult> {
  if (!options.args[0]) {
    const project = await loadProject({ file: options.config, cwd: ctx.cwd });
    if (project.config.environments.length > 1) return (await import('./status-all.js')).statusAll({ project, json: Boolean(options.json) }, ctx);
  }
  return (await import('./status.js')).default(options, ctx);
}
