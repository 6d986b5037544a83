import { createReadStream, promises as fs, watch } from 'node:fs';
import path from 'node:path';
import { SlipwayError, usageError } from '../errors.js';
import { tailLines } from '../runtime/supervisor.js';
import { agentClient, isAgentRunning } from '../agent/control-client.js';
import { openEnvironment } from './environment.js';
import type { CliContext, CommandResult } from './context.js';

interface LogsOptions {
  args: string[];
  follow?: boolean;
  lines?: string;
  service?: string;
  config?: string;
}

/** The output of the app's services (the active slot's log), optionally followed. */
export default async function logs(options: LogsOptions, ctx: CliContext): Promise<CommandResult> {
  const count = options.lines === undefined ? 50 : Number(options.lines);
  if (!Number.isInteger(count) || count < 0) throw usageError('USAGE', `--lines takes a whole number, got ${options.lines}`);
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const file = await pickLogFile(opened.layout.logsDir, opened.layout.agentSocket, options.service);
  const lines = await tailLines(file, count);
  if (!options.follow) return { stdout: lines.join('\n') || `(${path.basename(file)} is empty)` };
  process.stdout.write(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  await followFile(file);
  return {};
}

async function pickLogFile(logsDir: string, socket: string, service?: string): Promise<string> {
  if (await isAgentRunning(socket)) {
    const status = await agentClient(socket).call('status');
    const slot = status.slots?.[0];
    if (slot) {
      const name = service ?? slot.services[0]?.name;
      return path.join(logsDir, `${name}.${slot.name}.log`);
    }
  }
  // No agent: the most recently written service log.
  const candidates = (await fs.readdir(logsDir).catch(() => [] as string[])).filter((f) => f.endsWith('.log') && f !== 'agent.log' && (!service || f.startsWith(`${service}.`)));
  if (candidates.length === 0) throw new SlipwayError('NO_LOGS', 'no service logs yet', { hint: 'deploy a release first' });
  const withTimes = await Promise.all(candidates.map(async (f) => ({ f, t: (await fs.stat(path.join(logsDir, f))).mtimeMs })));
  return path.join(logsDir, withTimes.sort((a, b) => b.t - a.t)[0]!.f);
}

/** Prints what is appended to the file until Ctrl-C. */
async function followFile(file: string): Promise<void> {
  let position = (await fs.stat(file)).size;
  await new Promise<void>((resolve) => {
    const watcher = watch(file, async () => {
      const size = (await fs.stat(file).catch(() => null))?.size ?? 0;
      if (size < position) position = 0; // rotated
      if (size === position) return;
      const stream = createReadStream(file, { start: position, end: size - 1 });
      position = size;
      stream.pipe(process.stdout, { end: false });
    });
    process.once('SIGINT', () => {
      watcher.close();
      resolve();
    });
  });
}
