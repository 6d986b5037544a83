/**
 * The systemd unit that keeps a remote host's slipway agent running, and what to do
 * instead where systemd does not run. Every value that goes into the unit is escaped
 * for systemd (specifiers, quotes, `$` expansion); control characters are refused.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { usageError } from '../errors.js';

/** What runs the agent: `<nodePath> <cliPath> agent --env <environment> --config <configFile>`, with SLIPWAY_HOME=<home>. */
export interface AgentCommandOptions {
  /** absolute path of node on the host */
  nodePath: string;
  /** absolute path of bin/slipway.js on the host */
  cliPath: string;
  /** absolute path of the host's own slipway.yml */
  configFile: string;
  environment: string;
  /** SLIPWAY_HOME of the agent */
  home: string;
}

export interface SystemdUnitOptions extends AgentCommandOptions {
  /** file name of the unit, e.g. slipway-notes-production.service (see unitNameFor) */
  unitName: string;
  /** User= of a system unit; absent: root, or the user of a user unit */
  user?: string;
  /** 'system' (default): /etc/systemd/system, started at boot; 'user': ~/.config/systemd/user (needs lingering to start at boot) */
  scope?: 'system' | 'user';
  /** an env file (KEY=value lines) the agent reads its secrets from, e.g. the backup key; optional at start */
  environmentFile?: string;
}

/** Directories searched for commands when the unit sets no PATH; node's own folder goes first so services can run `node`/`npm`. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9-]*$/;
const USER_NAME = /^([a-z_][a-z0-9_.-]{0,31}\$?|\d+)$/i;
const UNIT_NAME = /^[A-Za-z0-9:_.-]+\.service$/;
const UNIT_NAME_MAX = 255;

/** `slipway-<app>-<env>.service`, reduced to the characters systemd accepts in a unit name. */
export function unitNameFor(app: string, env: string): string {
  const part = (value: string, what: string) => {
    const clean = value.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
    if (clean === '') throw usageError('UNIT_NAME_INVALID', `the ${what} name ${JSON.stringify(value)} leaves nothing to name a systemd unit with`, { hint: `use an ${what} name of lowercase letters, digits and -` });
    return clean;
  };
  const name = `slipway-${part(app, 'app')}-${part(env, 'environment')}`;
  const suffix = '.service';
  if (name.length + suffix.length <= UNIT_NAME_MAX) return `${name}${suffix}`;
  // Too long for systemd: keep a readable start and a digest of the whole name.
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${name.slice(0, UNIT_NAME_MAX - suffix.length - digest.length - 1)}-${digest}${suffix}`;
}

/** The agent's command line as an argument array. */
export function agentCommand(options: AgentCommandOptions): string[] {
  checkAgentCommand(options);
  return [options.nodePath, options.cliPath, 'agent', '--env', options.environment, '--config', options.configFile];
}

/**
 * A unit that runs the agent in the foreground. KillMode=mixed sends SIGTERM to the agent
 * alone, so it drains and stops its own services; whatever is left after TimeoutStopSec
 * gets SIGKILL with the rest of the group.
 */
export function renderSystemdUnit(options: SystemdUnitOptions): string {
  const argv = agentCommand(options);
  const scope = options.scope ?? 'system';
  if (!UNIT_NAME.test(options.unitName) || options.unitName.length > UNIT_NAME_MAX) {
    throw usageError('UNIT_NAME_INVALID', `${JSON.stringify(options.unitName)} is not a systemd service name`, { hint: 'name it like slipway-<app>-<env>.service (unitNameFor builds one)' });
  }
  if (options.user !== undefined) {
    if (scope === 'user') throw usageError('UNIT_USER_INVALID', 'a user unit runs as its own user; it cannot set User=', { hint: 'leave user out, or write a system unit' });
    if (!USER_NAME.test(options.user)) throw usageError('UNIT_USER_INVALID', `${JSON.stringify(options.user)} is not a user name systemd accepts`, { hint: 'use the name of the account that owns the host root, like deploy' });
  }
  if (options.environmentFile !== undefined) {
    checkAbsolute(options.environmentFile, 'the environment file');
    // Written unquoted: a trailing backslash would join the next line to it.
    if (options.environmentFile.endsWith('\\')) throw usageError('UNIT_VALUE_INVALID', `the environment file path cannot end with a backslash: ${JSON.stringify(options.environmentFile)}`, { hint: 'rename the file' });
  }

  const nodeDir = path.posix.dirname(options.nodePath);
  const searchPath = nodeDir.includes(':') || DEFAULT_PATH.split(':').includes(nodeDir) ? DEFAULT_PATH : `${nodeDir}:${DEFAULT_PATH}`;
  const lines = [
    `# Written by \`slipway setup\`: the slipway agent of environment ${options.environment}. Changes are overwritten by the next setup.`,
    '[Unit]',
    `Description=slipway agent of environment ${options.environment}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...(options.user === undefined ? [] : [`User=${options.user}`]),
    `Environment=${quoteEnvironmentAssignment('SLIPWAY_HOME', options.home)}`,
    `Environment=${quoteEnvironmentAssignment('PATH', searchPath)}`,
    ...(options.environmentFile === undefined ? [] : [`EnvironmentFile=-${escapeSpecifiers(options.environmentFile)}`]),
    `ExecStart=${[quoteExecProgram(argv[0]!), ...argv.slice(1).map(quoteExecArgument)].join(' ')}`,
    'Restart=on-failure',
    'RestartSec=2',
    'KillMode=mixed',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=60',
    '',
    '[Install]',
    `WantedBy=${scope === 'user' ? 'default.target' : 'multi-user.target'}`,
    '',
  ];
  return lines.join('\n');
}

/** One shell command (POSIX sh) that starts the agent in the background, detached from the SSH session, logging to `logFile`. */
export function nohupCommandLine(options: AgentCommandOptions & { logFile: string }): string {
  const argv = agentCommand(options);
  checkAbsolute(options.logFile, 'the log file');
  // All three standard streams redirected, so an SSH session that runs this line can end.
  return `SLIPWAY_HOME=${shellQuote(options.home)} nohup ${argv.map(shellQuote).join(' ')} >>${shellQuote(options.logFile)} 2>&1 </dev/null &`;
}

/** The text printed where systemd does not run: how to start the agent now, and at every boot. */
export function manualStartInstructions(options: AgentCommandOptions & { logFile: string }): string {
  const background = nohupCommandLine(options);
  const foreground = `SLIPWAY_HOME=${shellQuote(options.home)} exec ${agentCommand(options).map(shellQuote).join(' ')}`;
  // In a crontab line an unescaped % ends the command.
  const cronLine = `@reboot ${background.replace(/%/g, '\\%')}`;
  return [
    `systemd does not run on this host, so nothing restarts the slipway agent of ${options.environment} if it stops or the machine reboots.`,
    'Start it now with:',
    `  ${background}`,
    'and have the host start it at boot, for example with this line in the crontab of the user that owns the host root (crontab -e):',
    `  ${cronLine}`,
    "or as a service of the host's init system (OpenRC, runit, s6), running it in the foreground:",
    `  ${foreground}`,
    `The agent logs to ${options.logFile} and stops cleanly (draining its services) on SIGTERM.`,
  ].join('\n');
}

/** Single-quoted for POSIX sh: nothing inside is special. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function checkAgentCommand(options: AgentCommandOptions): void {
  checkAbsolute(options.nodePath, 'the node executable');
  checkAbsolute(options.cliPath, 'the slipway CLI');
  checkAbsolute(options.configFile, 'the config file');
  checkAbsolute(options.home, 'SLIPWAY_HOME');
  if (!ENVIRONMENT_NAME.test(options.environment)) {
    throw usageError('UNIT_VALUE_INVALID', `${JSON.stringify(options.environment)} is not an environment name`, { hint: 'environment names are lowercase letters, digits and -' });
  }
}

function checkAbsolute(value: string, what: string): void {
  checkNoControlCharacters(value, what);
  if (!path.posix.isAbsolute(value)) {
    throw usageError('UNIT_VALUE_INVALID', `${what} must be an absolute path on the host, not ${JSON.stringify(value)}`, { hint: 'pass the full path, starting with /' });
  }
}

function checkNoControlCharacters(value: string, what: string): void {
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw usageError('UNIT_VALUE_INVALID', `${what} contains a newline or another control character: ${JSON.stringify(value)}`, {
      hint: 'systemd units and shell lines cannot hold them safely; rename the file or folder',
    });
  }
}

/** `%` starts a specifier wherever systemd expands them. */
function escapeSpecifiers(value: string): string {
  return value.replace(/%/g, '%%');
}

/** Inside double quotes systemd reads C escapes: backslashes and quotes are escaped. */
function escapeQuoted(value: string): string {
  return escapeSpecifiers(value.replace(/\\/g, '\\\\').replace(/"/g, '\\"'));
}

/** ExecStart='s program: systemd expands no variables in it and refuses quotes and backslashes in it outright. */
function quoteExecProgram(value: string): string {
  if (/["'\\]/.test(value)) {
    throw usageError('UNIT_VALUE_INVALID', `systemd cannot run a program whose path holds a quote or a backslash: ${JSON.stringify(value)}`, {
      hint: 'link node to a plain path (e.g. ln -s "<node>" /usr/local/bin/node) and pass that',
    });
  }
  return `"${escapeSpecifiers(value)}"`;
}

/** One argument of ExecStart=, quoted; `$` is doubled, or systemd would expand $VAR from the unit's environment. */
function quoteExecArgument(value: string): string {
  return `"${escapeQuoted(value).replace(/\$/g, '$$$$')}"`;
}

/** Environment="NAME=value": no variable expansion there, so `$` stays as it is. */
function quoteEnvironmentAssignment(name: string, value: string): string {
  return `"${name}=${escapeQuoted(value)}"`;
}
