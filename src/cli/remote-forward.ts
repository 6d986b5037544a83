import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { closeHosts, connectHosts, selectHosts } from './fleet.js';
import type { CliContext, CommandResult } from './context.js';

/**
 * Runs a host-scoped command (backups, logs, verify, config, lock…) on an
 * environment's remote hosts, where slipway runs it exactly as on a local host.
 * One host: its output as is. Several: one after another, each under a header;
 * with --json, the contract's array for a command whose contract is an array (history,
 * backups), each item with a `host` field, so a script written for one host reads several;
 * for any other command, one object keyed by host name.
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
    const arrayCommand = ARRAY_COMMANDS.get(o.args[0] ?? '');
    const items: Record<string, unknown>[] = [];
    for (const remote of remotes) {
      const result = await remote.slipway(o.args, { onStderrLine: (line) => ctx.progress(`${remote.name}: ${line}`) });
      worst = Math.max(worst, exitCodeOf(result.exitCode));
      if (o.json && arrayCommand) {
        // A host that failed has already said why on stderr (prefixed with its name) and set the exit code.
        const list = parseJson(result.stdout);
        if (Array.isArray(list)) for (const item of list) items.push({ ...(item as Record<string, unknown>), host: remote.name });
      } else if (o.json) {
        try {
          json[remote.name] = JSON.parse(result.stdout);
        } catch {
          json[remote.name] = { error: result.stderr.trim().split('\n').at(-1) ?? `exit code ${result.exitCode}` };
        }
      } else {
        texts.push(`== ${remote.name} ==`, result.stdout.trimEnd());
      }
    }
    if (o.json && arrayCommand) {
      // Newest first across hosts, as each host lists its own; ties keep the fleet's host order.
      const time = (item: Record<string, unknown>) => String(item[arrayCommand] ?? '');
      items.sort((a, b) => (time(a) < time(b) ? 1 : time(a) > time(b) ? -1 : 0));
      return { stdout: `${JSON.stringify(items, null, 2)}\n`, exitCode: worst as 0 | 1 | 2 };
    }
    return { stdout: o.json ? `${JSON.stringify(json, null, 2)}\n` : texts.join('\n'), exitCode: worst as 0 | 1 | 2 };
  } finally {
    await closeHosts(remotes);
  }
}

/** Commands whose --json the contract fixes as an array, and the field that orders its items in time. */
const ARRAY_COMMANDS = new Map([
  ['history', 'startedAt'],
  ['backups', 'createdAt'],
]);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function exitCodeOf(code: number): 0 | 1 | 2 {
  return code === 0 ? 0 : code === 2 ? 2 : 1;
}
