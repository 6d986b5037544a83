/**
 * How a command runs: its module loaded when it runs (so `slipway --help` loads nothing heavy),
 * its result printed, its failure said with a hint and mapped to an exit code, and host-scoped
 * commands on remote environments forwarded to the hosts over SSH. The only place that prints
 * results and sets the exit code.
 */
import { Command, Option } from 'commander';
import { isSlipwayError, redactSecrets } from '../errors.js';
import { colorEnabled, paint } from '../util/format.js';
import type { CliContext, CommandResult } from './context.js';
import { RemoteEnvironmentRedirect } from './remote-redirect.js';

// Each command declares the options it reads (its own interface); commander fills them from the declarations below.
type CommandModule<O> = { default: (options: O, ctx: CliContext) => Promise<CommandResult> };


function createContext(): CliContext {
  const env = process.env;
  return {
    cwd: process.cwd(),
    env,
    interactive: Boolean(process.stdout.isTTY),
    canPrompt: Boolean(process.stdin.isTTY),
    color: colorEnabled(env, Boolean(process.stderr.isTTY)),
    progress: (line) => process.stderr.write(`${redactSecrets(line)}\n`),
    ...(process.stderr.isTTY ? { progressInPlace: (line: string) => process.stderr.write(`\r\u001b[K${redactSecrets(line)}`) } : {}),
    writeStdout: (chunk) => process.stdout.write(chunk),
  };
}

function formatFailure(error: unknown, color: boolean): { text: string; exitCode: 1 | 2 } {
  if (isSlipwayError(error)) {
    const lines = [`${paint(color, 'red', 'error')}: ${error.message}`];
    for (const detail of error.details) lines.push(`  ${detail}`);
    if (error.hint) lines.push(`${paint(color, 'yellow', 'hint')}: ${error.hint}`);
    if (process.env.SLIPWAY_DEBUG && error.cause) lines.push(String((error.cause as Error)?.stack ?? error.cause));
    return { text: `${lines.join('\n')}\n`, exitCode: error.exitCode };
  }
  // Not an expected failure: this is a bug, so show the stack and ask for a report.
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return {
    text: `${paint(color, 'red', 'internal error')} (a bug in slipway, please report it):\n${redactSecrets(stack)}\n`,
    exitCode: 1,
  };
}

export function runner<O>(load: () => Promise<CommandModule<O>>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const positional = command.processedArgs ?? [];
    const options: Record<string, unknown> = { ...command.optsWithGlobals(), args: positional };
    const ctx = createContext();
    try {
      const module = await load();
      const result = await module.default(options as O, ctx);
      if (result.stdout) process.stdout.write(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`);
      process.exitCode = result.exitCode ?? 0;
      if (result.exit) process.stdout.write('', () => process.exit(process.exitCode));
    } catch (caught) {
      let error = caught;
      const path = commandPath(command);
      // `agent` in the foreground over SSH would tie the app's life to this terminal: only --stop goes.
      const forwarded = FORWARDED_TO_HOSTS.has(path) && (path !== 'agent' || options.stop === true);
      if (caught instanceof RemoteEnvironmentRedirect && forwarded) {
        // A host-scoped command on remote hosts: slipway runs the same command there.
        try {
          const { forwardToHosts } = await import('./remote-forward.js');
          const result = await forwardToHosts(
            { project: caught.project, environment: caught.environment, command: path, args: hostArgv(process.argv.slice(2)), only: options.host as string | undefined, json: Boolean(options.json) },
            ctx,
          );
          if (result.stdout) process.stdout.write(result.stdout.endsWith('\n') ? result.stdout : `${result.stdout}\n`);
          process.exitCode = result.exitCode ?? 0;
          return;
        } catch (forwardError) {
          error = forwardError;
        }
      }
      const failure = formatFailure(error, ctx.color);
      process.stderr.write(failure.text);
      process.exitCode = failure.exitCode;
    }
  };
}

/** Host-scoped commands that, on an environment of remote hosts, run on the hosts themselves over SSH. */
const FORWARDED_TO_HOSTS = new Set([
  'history', 'data copies', 'backup create', 'backup verify', 'backup fetch', 'backup copy', 'backup prune', 'backups', 'restore',
  'verify', 'prune', 'maintenance', 'logs', 'lock', 'config', 'doctor', 'plan', 'agent',
  'accessory start', 'accessory stop', 'accessory status', 'accessory logs', 'accessory upgrade',
]);
/** Commands that take --host on an environment with several hosts. */
const HOST_OPTION_COMMANDS = new Set([...FORWARDED_TO_HOSTS, 'deploy', 'rollback', 'status', 'exec', 'setup']);

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c && c.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The user's own arguments, minus what names this machine's project file or picks the host. */
export function hostArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (arg === '-c' || arg === '--config' || arg === '--host') {
      i++;
      continue;
    }
    if (arg.startsWith('--config=') || arg.startsWith('--host=') || arg === '--no-color') continue;
    out.push(arg);
  }
  return out;
}

/** Every command accepts --config after its name too, and --no-color. */
export function addCommonOptions(command: Command): void {
  for (const sub of command.commands) {
    if (sub.commands.length > 0) {
      addCommonOptions(sub);
      continue;
    }
    if (HOST_OPTION_COMMANDS.has(commandPath(sub)) && !sub.options.some((o) => o.long === '--host')) {
      sub.option('--host <name>', 'on an environment of several hosts: only this one');
    }
    if (!sub.options.some((o) => o.long === '--config')) sub.option('-c, --config <path>', 'path of the project file (default: ./slipway.yml)');
    sub.addOption(new Option('--no-color', 'plain output (also NO_COLOR=1)').hideHelp());
  }
}
