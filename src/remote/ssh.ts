/**
 * SSH transport over the system's OpenSSH client: ~/.ssh/config, the agent and
 * known_hosts keep working as they do for the user's own `ssh`. One ControlMaster per
 * host carries every command of a rollout, so nothing reconnects per command.
 *
 * The parts: ssh-target (the address), ssh-settings (the user's settings and the
 * options from them), ssh-failure (what went wrong), ssh-exec (short local ssh
 * commands), ssh-master (the master's socket folder and exit) and ssh-connection
 * (the connection and the commands run over it). Importers take them from here.
 */
export { describeTarget, parseSshUrl, type SshTarget } from './ssh-target.js';
export { sshSettingsFromEnv, type SshSettings } from './ssh-settings.js';
export { classifySshFailure } from './ssh-failure.js';
export { SshConnection, type SshRunOptions, type SshRunResult } from './ssh-connection.js';
