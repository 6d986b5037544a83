import { Agent } from '../agent/agent.js';
import { openEnvironment } from './environment.js';
import type { CliContext, CommandResult } from './context.js';

interface AgentOptions {
  env?: string;
  config?: string;
}

/** Runs the host agent in the foreground until SIGTERM or SIGINT. */
export default async function agent(options: AgentOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment(options, ctx);
  const instance = new Agent({ ...opened, log: (line) => ctx.progress(`[agent] ${line}`) });
  await instance.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      ctx.progress(`[agent] ${signal}: stopping the app and the proxy`);
      void instance.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return { stdout: 'agent stopped' };
}
