import { takeSentRollback } from './rollback-fast.js';
import { printUpdateEvent, updateFailure } from './update-output.js';
import { whoAmI } from './who.js';
import { shortId } from '../release/manifest.js';
import type { UpdateResult } from '../agent/api.js';
import type { AgentClient } from '../agent/control-client.js';
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
  // `rollback <env> --yes` may already be at the agent (bin/slipway.js, rollback-fast.ts): its answer is read here.
  const sent = takeSentRollback();
  if (sent) {
    const { readSentRollback } = await import('./rollback-answer.js');
    const answer = await readSentRollback(sent, (event) => printUpdateEvent(ctx, event));
    if (answer) {
      const agent = async () => (await import('../agent/control-client.js')).agentClient(sent.socketPath);
      // Its seconds are the agent's, as for a request sent below: not the time the rest of the CLI took to load meanwhile.
      return rolledBack(sent.args.env, answer.result, answer.endedMs - sent.startedMs, agent);
    }
    // It reached no agent: nothing happened, the full path runs (and starts the agent).
  }
  // Loaded here, not above: a rollback sent early needs neither slipway.yml nor its schema.
  const { openAnyEnvironment, connectAgent } = await import('./environment.js');
  const target = await openAnyEnvironment({ config: options.config, env: options.args[0] }, ctx);
  if (target.remote) {
    const { rollbackFleet } = await import('./fleet-rollback.js');
    return rollbackFleet({ project: target.project, environment: target.environment, options }, ctx);
  }
  const opened = target;
  const { confirmOrRefuse } = await import('./prompt.js');
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Roll ${opened.environment.name} back to ${options.to ?? 'the previous release'}${options.withData ? ', restoring the data from before the update (writes since then are lost; a backup of the data as it is now is taken first)' : ''}?`,
    what: 'rollback',
  });
  if (!go) return { stdout: 'nothing changed', exitCode: 1 };
  // Said before the restore starts, which takes a while: only a code rollback to a release still in standby is a proxy switch.
  if (options.withData) ctx.progress('--with-data is not instant: the backup is restored first, then the release starts fresh on the restored data');
  // connectAgent also remembers the agent's socket for the next `rollback <env> --yes`, for as long as slipway.yml stays the same.
  const agent = await connectAgent(opened, ctx);
  const started = performance.now();
  const result = await agent.stream(
    'rollback',
    { to: options.to, withData: Boolean(options.withData), who: whoAmI(ctx), reason: options.reason ?? `rollback${options.to ? ` to ${options.to}` : ''}` },
    (event) => printUpdateEvent(ctx, event),
  );
  return rolledBack(opened.environment.name, result, performance.now() - started, async () => agent);
}

/** The line a rollback ends with, or the error that says what the host serves after a failed one. */
async function rolledBack(environment: string, result: UpdateResult, tookMs: number, agent: () => Promise<AgentClient>): Promise<CommandResult> {
  if (!result.ok) {
    const status = await agent()
      .then((client) => client.call('status'))
      .catch(() => null);
    throw updateFailure(result, status?.current ? `${status.current.version} is serving` : 'no release is serving');
  }
  const seconds = (tookMs / 1000).toFixed(1);
  return { stdout: `${environment} now serves ${result.version ?? '?'} (${shortId(result.releaseId ?? '')}) — ${seconds} s` };
}
