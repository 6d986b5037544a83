import { usageError } from '../errors.js';
import { openEnvironment, connectAgent } from './environment.js';
import type { CliContext, CommandResult } from './context.js';

interface MaintenanceOptions {
  args: string[];
  env?: string;
  hold?: string;
  config?: string;
}

/** Maintenance mode in the proxy: 503 with Retry-After, or requests held up to N seconds. */
export default async function maintenance(options: MaintenanceOptions, ctx: CliContext): Promise<CommandResult> {
  const mode = options.args[0];
  if (mode !== 'on' && mode !== 'off') throw usageError('USAGE', 'expected `slipway maintenance on|off`', { hint: 'slipway maintenance on --hold 30' });
  const hold = options.hold === undefined ? undefined : Number(options.hold);
  if (hold !== undefined && !(hold > 0 && hold <= 3600)) throw usageError('USAGE', '--hold takes seconds between 1 and 3600');
  const opened = await openEnvironment({ config: options.config, env: options.env }, ctx);
  const agent = await connectAgent(opened, ctx);
  await agent.call('maintenance', { mode, holdSeconds: hold });
  if (mode === 'off') return { stdout: `${opened.environment.name}: maintenance off, requests flow to the app` };
  return { stdout: hold ? `${opened.environment.name}: maintenance on, requests held up to ${hold} s` : `${opened.environment.name}: maintenance on, requests answered 503 with Retry-After` };
}
