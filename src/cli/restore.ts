import { openEnvironment, connectAgent } from './environment.js';
import { confirmOrRefuse } from './prompt.js';
import { printUpdateEvent, updateFailure } from './update-output.js';
import { whoAmI } from './deploy.js';
import type { CliContext, CommandResult } from './context.js';

interface RestoreOptions {
  args: string[];
  yes?: boolean;
  dataOnly?: boolean;
  config?: string;
}

/** Restores a backup's data and the release it belongs to, through the same pipeline as a rollback. */
export default async function restore(options: RestoreOptions, ctx: CliContext): Promise<CommandResult> {
  const [env, backupId] = options.args;
  const opened = await openEnvironment({ config: options.config, env }, ctx);
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Replace the data of ${opened.environment.name} with backup ${backupId} (a backup of the data as it is now is taken first)?`,
    what: 'restore',
  });
  if (!go) return { stdout: 'nothing changed', exitCode: 1 };
  const agent = await connectAgent(opened, ctx);
  const result = await agent.stream('restore', { backupId: backupId ?? '', dataOnly: Boolean(options.dataOnly), who: whoAmI(ctx), reason: `restore backup ${backupId}` }, (event) => printUpdateEvent(ctx, event));
  if (!result.ok) {
    const status = await agent.call('status').catch(() => null);
    throw updateFailure(result, status?.current ? `${status.current.version} is serving with its data` : 'no release is serving');
  }
  return { stdout: `${opened.environment.name} now serves ${result.version ?? '?'} with the data of backup ${backupId}` };
}
