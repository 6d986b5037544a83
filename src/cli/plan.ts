import { planUpdate } from '../update/plan-update.js';
import { renderPlanText } from '../plan/render.js';
import { openStore } from '../store/open-store.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { openEnvironment } from './environment.js';

interface PlanOptions {
  args: string[];
  version?: string;
  json?: boolean;
  config?: string;
}

/**
 * What `slipway deploy <env> --version <v>` would do, without doing it. Exit 1 when
 * the plan has blockers (deploy would refuse), 0 when it can go ahead.
 */
export default async function plan(options: PlanOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const store = await openStore(opened.environment.store, opened.project.dir);
  const result = await planUpdate({ ...opened, store, version: options.version, kind: 'deploy', processEnv: ctx.env });
  const exitCode = result.blockers.length > 0 ? 1 : 0;
  if (options.json) return { ...jsonOutput(result), exitCode };
  return { stdout: renderPlanText(result), exitCode };
}
