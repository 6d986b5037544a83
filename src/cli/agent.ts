import { Agent } from '../agent/agent.js';
import { agentClient, isAgentRunning } from '../agent/control-client.js';
import { openEnvironment } from './environment.js';
import type { CliContext, CommandResult } from './context.js';

interface AgentOptions {
  env?: string;
  stop?: boolean;
  config?: string;
}

/** Runs the host agent in the foreground until SIGTERM or SIGINT. */
export default async function agent(options: AgentOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment(options, ctx);
  if (options.stop) return stopAgent(opened.layout.agentSocket, opened.environment.name);
  let requestStop: (why: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (requestStop = resolve));
  const instance = new Agent({ ...opened, log: (line) => ctx.progress(`[agent] ${line}`), onStopRequested: () => requestStop('asked to stop') });
  process.once('SIGTERM', () => requestStop('SIGTERM'));
  process.once('SIGINT', () => requestStop('SIGINT'));
  try {
    await instance.start();
  } catch (error) {
    await instance.close().catch(() => undefined);
    throw error;
  }
  const why = await stopped;
  ctx.progress(`[agent] ${why}: stopping the app and the proxy`);
  await instance.close();
  // Stray sockets or timers must not keep a stopped agent alive.
  return { stdout: 'agent stopped', exit: true };
}

async function stopAgent(socket: string, env: string): Promise<CommandResult> {
  if (!(await isAgentRunning(socket))) return { stdout: `no agent runs for ${env}` };
  await agentClient(socket).call('stop');
  for (let i = 0; i < 300 && (await isAgentRunning(socket).catch(() => false)); i += 1) await new Promise((r) => setTimeout(r, 100));
  return { stdout: `stopped the agent of ${env} (the app is no longer served)` };
}
