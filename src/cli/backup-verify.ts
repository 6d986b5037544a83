import { openEnvironment, connectAgent } from './environment.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface BackupVerifyOptions {
  args: string[];
  json?: boolean;
  config?: string;
}

/** Restores a backup into a scratch database or folder and compares it with what was recorded. Exit 1 when it does not match. */
export default async function backupVerify(options: BackupVerifyOptions, ctx: CliContext): Promise<CommandResult> {
  const [env, id] = options.args;
  const opened = await openEnvironment({ config: options.config, env }, ctx);
  const agent = await connectAgent(opened, ctx);
  const report = await agent.call('backupVerify', { id: id ?? '' });
  const exitCode = report.ok ? 0 : 1;
  if (options.json) return { ...jsonOutput(report), exitCode };
  const lines = [`backup ${report.id}: ${report.ok ? 'verified (restored into scratch, contents match)' : 'DOES NOT VERIFY'}`];
  for (const item of report.items) lines.push(`  ${item.ok ? 'ok  ' : 'FAIL'} ${item.name} (${item.engine})${item.problems.length ? `: ${item.problems.join('; ')}` : ''}`);
  for (const problem of report.problems) lines.push(`  ${problem}`);
  return { stdout: lines.join('\n'), exitCode };
}
