/**
 * The user's SSH settings (SLIPWAY_SSH_*) and the options every ssh invocation gets
 * from them; ssh_config fills in the rest.
 */
import { SlipwayError } from '../errors.js';
import type { SshTarget } from './ssh-target.js';

export interface SshSettings {
  /** ssh_config file to use instead of ~/.ssh/config (ssh -F); from SLIPWAY_SSH_CONFIG */
  configFile?: string;
  /** default 10 */
  connectTimeoutSeconds?: number;
  /** ServerAliveInterval (CountMax 3) so a dropped link is noticed in seconds, not minutes; default 3 */
  aliveIntervalSeconds?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
const DEFAULT_ALIVE_INTERVAL_SECONDS = 3;
const ALIVE_COUNT_MAX = 3;

/**
 * SLIPWAY_SSH_CONFIG: an ssh_config file used instead of ~/.ssh/config.
 * SLIPWAY_SSH_ALIVE_INTERVAL: seconds between keepalives (a dropped link is noticed after 3 unanswered).
 */
export function sshSettingsFromEnv(env: NodeJS.ProcessEnv): SshSettings {
  const settings: SshSettings = {};
  if (env.SLIPWAY_SSH_CONFIG) settings.configFile = env.SLIPWAY_SSH_CONFIG;
  const alive = env.SLIPWAY_SSH_ALIVE_INTERVAL;
  if (alive !== undefined && alive !== '') {
    const seconds = Number(alive);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
      throw new SlipwayError('SSH_SETTING_INVALID', `SLIPWAY_SSH_ALIVE_INTERVAL must be a whole number of seconds from 1 to 3600, got ${JSON.stringify(alive)}`, { exitCode: 2, hint: 'unset it for the default (3 s)' });
    }
    settings.aliveIntervalSeconds = seconds;
  }
  return settings;
}

/** Options every ssh invocation gets; ssh_config fills in the rest. */
export function connectionArgs(target: SshTarget, settings: SshSettings): string[] {
  const args: string[] = [];
  if (settings.configFile !== undefined) args.push('-F', settings.configFile);
  args.push(
    // a rollout is unattended: never wait for a password or a host key question
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${settings.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS}`,
    '-o', `ServerAliveInterval=${settings.aliveIntervalSeconds ?? DEFAULT_ALIVE_INTERVAL_SECONDS}`,
    '-o', `ServerAliveCountMax=${ALIVE_COUNT_MAX}`,
    // forwardings from the user's config are for their interactive sessions, not ours
    '-o', 'ClearAllForwardings=yes',
  );
  if (target.port !== undefined) args.push('-p', String(target.port));
  if (target.user !== undefined) args.push('-l', target.user);
  return args;
}

/** How the user would reproduce the connection by hand, for hints. */
export function manualSshCommand(target: SshTarget, settings: SshSettings): string {
  const parts = ['ssh'];
  if (settings.configFile !== undefined) parts.push('-F', settings.configFile);
  if (target.port !== undefined) parts.push('-p', String(target.port));
  parts.push(`${target.user === undefined ? '' : `${target.user}@`}${target.host}`);
  return parts.join(' ');
}
