import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { registerSecret } from '../errors.js';
import { closeHosts, connectHosts, selectHosts } from './fleet.js';
import type { CliContext, CommandResult } from './context.js';
import { setAssignment } from './read-value.js';

/**
 * Runs a host-scoped command (backups, logs, verify, config, lock…) on an
 * environment's remote hosts, where slipway runs it exactly as on a local host.
 * One host: its output as is. Several: one after another, each under a header;
 * with --json, the contract's array for a command whose --json is an array (history,
 * backups, data copies), each item with a `host` field, so a script written for one host reads several;
 * for any other command, one object keyed by host name.
 */
export async function forwardToHosts(
  o: {
    project: LoadedProject;
    environment: EnvironmentConfig;
    /** the command's words, e.g. `backups`, `data copies` */
    command: string;
    args: string[];
    only?: string;
    json: boolean;
  },
  ctx: CliContext,
): Promise<CommandResult> {
  const hosts = selectHosts(o.environment, o.only);
  // Read before anything slow, as on a local host; each host's command then reads it on its stdin.
  const input = await stdinForHosts(o.args, ctx);
  const remotes = await connectHosts(o.project, o.environment, hosts, ctx);
  try {
    if (remotes.length === 1) {
      const [remote] = remotes;
      const streamed = Boolean(ctx.writeStdout) && !o.json;
      const result = await remote!.slipway(o.args, {
        ...(input === undefined ? {} : { input }),
        onStderrLine: (line) => ctx.progress(line),
        ...(streamed ? { onStdout: (chunk: Buffer) => ctx.writeStdout!(chunk) } : {}),
      });
      return { stdout: streamed ? '' : result.stdout, exitCode: exitCodeOf(result.exitCode) };
    }
    let worst = 0;
    const texts: string[] = [];
    const json: Record<string, unknown> = {};
    const arrayCommand = ARRAY_COMMANDS.get(o.command);
    const items: Record<string, unknown>[] = [];
    for (const remote of remotes) {
      const result = await remote.slipway(o.args, { ...(input === undefined ? {} : { input }), onStderrLine: (line) => ctx.progress(`${remote.name}: ${line}`) });
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

/**
 * What the hosts' command reads on stdin: for `config <env> set KEY` (the value not on the
 * command line), the value read here once, typed unseen or piped in, so that a secret is on
 * neither machine's command line. Nothing for any other command.
 */
async function stdinForHosts(args: string[], ctx: CliContext): Promise<string | undefined> {
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--version') i++; // config's one option with a value
    else if (!args[i]!.startsWith('-')) positional.push(args[i]!);
  }
  if (positional[0] !== 'config' || positional[2] !== 'set' || positional[3] === undefined) return undefined;
  const assignment = await setAssignment(positional[3], ctx);
  if (!assignment.fromStdin) return undefined;
  registerSecret(assignment.value);
  return `${assignment.value}\n`;
}

/** Commands (their words, as the runner names them) whose --json is an array, and the field that orders its items in time. */
const ARRAY_COMMANDS = new Map([
  ['history', 'startedAt'],
  ['backups', 'createdAt'],
  ['data copies', 'startedAt'],
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
