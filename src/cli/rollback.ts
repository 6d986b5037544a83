import { openAnyEnvironment, connectAgent } from './environment.js';
import { confirmOrRefuse } from './prompt.js';
import { printUpdateEvent, updateFailure } from './update-output.js';
import { whoAmI } from './who.js';
import { shortId } from '../release/manifest.js';
import type { CliContext, CommandResult } from './context.js';

interface RollbackOptions {
  args: string[];
  to?: string;
  withData?: boolean;
  yes?: boolean;
  reason?: string;
  config?: string;
  host?: string;
  json?: boolean;
}

/** Goes back to a release still on disk (the previous one by default) through the same switch. */
export default async function rollback(options: RollbackOptions, ctx: CliContext): Promise<CommandResult> {
  const target = await openAnyEnvironment({ config: options.config, env: options.args[0] }, ctx);
  if (target.remote) {
    const { rollbackFleet } = await import('./fleet-rollback.js');
    return rollbackFleet({ project: target.project, environment: target.environment, options }, ctx);
  }
  const opened = target;
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Roll ${opened.environment.name} back to ${options.to ?? 'the previous release'}${options.withData ? ', restoring the data from before the update (writes since then are lost; a backup of the data as it is now is taken first)' : ''}?`,
    what: 'rollback',
  });
  if (!go) return { stdout: 'nothing changed', exitCode: 1 };
  // Said before the restore starts, which takes a while: only a code rollback to a release still in standby is a proxy switch.
  if (options.withData) ctx.progress('--with-data is not instant: the backup is restored first, then the release starts fresh on the restored data');
  const agent = await connectAgent(opened, ctx);
  const started = performance.now();
  const result = await agent.stream(
    'rollback',
    { to: options.to, withData: Boolean(options.withData), who: whoAmI(ctx), reason: options.reason ?? `rollback${options.to ? ` to ${options.to}` : ''}` },
    (event) => printUpdateEvent(ctx, event),
  );
  if (!result.ok) {
    const status = await agent.call('status').catch(() => null);
    throw updateFailure(result, status?.current ? `${status.current.version} is serving` : 'no release is serving');
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  return { stdout: `${opened.environment.name} now serves ${result.version ?? '?'} (${shortId(result.releaseId ?? '')}) — ${seconds} s` };
}
