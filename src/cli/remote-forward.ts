import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { closeHosts, connectHosts, selectHosts } from './fleet.js';
import type { CliContext, CommandResult } from './context.js';

/**
 * Runs a host-scoped command (backups, logs, verify, config, lock…) on an
 * environment's remote hosts, where slipway runs it exactly as on a local host.
 * One host: its output as is. Several: one after another, each under a header;
 * with --json, one object keyed by host name.
 */
export async function forwardToHosts(
  o: { project: LoadedProject; environment: EnvironmentConfig; args: string[]; only?: string; json: boolean },
  ctx: CliContext,
): Promise<CommandResult> {
  const hosts = selectHosts(o.environment, o.only);
  const remotes = await connectHosts(o.project, o.environment, hosts, ctx);
  try {
    if (remotes.length === 1) {
      const [remote] = remotes;
      const streamed = Boolean(ctx.writeStdout) && !o.json;
      const result = await remote!.slipway(o.args, {
        onStderrLine: (line) => ctx.progress(line),
        ...(streamed ? { onStdout: (chunk: Buffer) => ctx.writeStdout!(chunk) } : {}),
      });
      return { stdout: streamed ? '' : result.stdout, exitCode: exitCodeOf(result.exitCode) };
    }
    let worst = 0;
    const texts: string[] = [];
    const json: Record<string, unknown> = {};
    for (const remote of remotes) {
      const result = await remote.slipway(o.args, { onStderrLine: (line) => ctx.progress(`${remote.name}: ${line}`) });
      worst = Math.max(worst, exitCodeOf(result.exitCode));
      if (o.json) {
        try {
          json[remote.name] = JSON.parse(result.stdout);
        } catch {
          json[remote.name] = { error: result.stderr.trim().split('\n').at(-1) ?? `exit code ${result.exitCode}` };
        }
      } else {
        texts.push(`== ${remote.name} ==`, result.stdout.trimEnd());
      }
    }
    return { stdout: o.json ? `${JSON.stringify(json, null, 2)}\n` : texts.join('\n'), exitCode: worst as 0 | 1 | 2 };
  } finally {
    await closeHosts(remotes);
  }
}

function exitCodeOf(code: number): 0 | 1 | 2 {
  return code === 0 ? 0 : code === 2 ? 2 : 1;
}
