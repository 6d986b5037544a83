import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SlipwayError, usageError } from '../errors.js';
import { remoteCommandLine } from './shell-quote.js';

/**
 * SSH transport over the system's OpenSSH client: ~/.ssh/config, the agent and
 * known_hosts keep working as they do for the user's own `ssh`. One ControlMaster per
 * host carries every command of a rollout, so nothing reconnects per command.
 */

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

export interface SshSettings {
  /** ssh_config file to use instead of ~/.ssh/config (ssh -F); from SLIPWAY_SSH_CONFIG */
  configFile?: string;
  /** default 10 */
  connectTimeoutSeconds?: number;
  /** ServerAliveInterval (CountMax 3) so a dropped link is noticed in seconds, not minutes; default 3 */
  aliveIntervalSeconds?: number;
}

export interface SshRunOptions {
  /** set for this command only (`env K=V ...` on the remote side) */
  env?: Record<string, string>;
  /** sent to the command's stdin (which is /dev/null otherwise) */
  input?: Buffer | string | NodeJS.ReadableStream;
  /** the local ssh client is stopped after this long: REMOTE_COMMAND_TIMEOUT */
  timeoutMs?: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface SshRunResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
const DEFAULT_ALIVE_INTERVAL_SECONDS = 3;
const ALIVE_COUNT_MAX = 3;
/** kept of ssh's own stderr for error messages */
const STDERR_TAIL_BYTES = 16 * 1024;

const SSH_URL = /^ssh:\/\/(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_][A-Za-z0-9._-]*))(?::(\d{1,5}))?\/?$/;

/** ssh://[user@]host[:port] (IPv6 in brackets). A host or user starting with "-" could pass as an ssh option, so the pattern refuses it. */
export function parseSshUrl(url: string): SshTarget {
  const match = SSH_URL.exec(url.trim());
  const port = match?.[4] === undefined ? undefined : Number(match[4]);
  if (!match || (port !== undefined && (port < 1 || port > 65535)) || (match[2] !== undefined && !match[2].includes(':'))) {
    throw usageError('INVALID_SSH_URL', `"${url}" is not an SSH address.`, {
      hint: 'Write it as ssh://[user@]host[:port], e.g. ssh://deploy@app1.example.com or ssh://root@[2001:db8::1]:2222.',
    });
  }
  const target: SshTarget = { host: match[2] ?? match[3] };
  if (match[1] !== undefined) target.user = match[1];
  if (port !== undefined) target.port = port;
  return target;
}

/** user@host:port, for messages (IPv6 hosts in brackets). */
export function describeTarget(target: SshTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user === undefined ? '' : `${target.user}@`}${host}${target.port === undefined ? '' : `:${target.port}`}`;
}

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
function connectionArgs(target: SshTarget, settings: SshSettings): string[] {
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
function manualSshCommand(target: SshTarget, settings: SshSettings): string {
  const parts = ['ssh'];
  if (settings.configFile !== undefined) parts.push('-F', settings.configFile);
  if (target.port !== undefined) parts.push('-p', String(target.port));
  parts.push(`${target.user === undefined ? '' : `${target.user}@`}${target.host}`);
  return parts.join(' ');
}

/** The name known_hosts files the host under: [host]:port unless the port is 22. */
function knownHostsName(target: SshTarget): string {
  return target.port === undefined || target.port === 22 ? target.host : `[${target.host}]:${target.port}`;
}

function lastLine(text: string): string {
  const lines = text.replaceAll('\r', '').split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.at(-1) ?? '';
}

function appendTail(tail: string, chunk: string): string {
  const joined = tail + chunk;
  return joined.length > STDERR_TAIL_BYTES ? joined.slice(-STDERR_TAIL_BYTES) : joined;
}

/**
 * What went wrong, read from what ssh printed when it failed to connect
 * (exit code 255), as a SlipwayError that says what to do next.
 */
export function classifySshFailure(o: { target: SshTarget; settings?: SshSettings; stderr: string }): SlipwayError {
  const settings = o.settings ?? {};
  const where = describeTarget(o.target);
  const said = lastLine(o.stderr);
  const details = [`host: ${where}`];
  if (said) details.push(`ssh said: ${said}`);
  const manual = manualSshCommand(o.target, settings);
  const has = (pattern: RegExp) => pattern.test(o.stderr);

  if (has(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed|REVOKED HOST KEY|POSSIBLE DNS SPOOFING/i)) {
    const offending = /^Offending .* key in .*$/m.exec(o.stderr.replaceAll('\r', ''));
    if (offending) details.splice(1, 0, offending[0].trim());
    return new SlipwayError('HOST_KEY_MISMATCH', `The host key of ${where} does not match the one in known_hosts; refusing to connect.`, {
      hint: `This may be an attack or a reinstalled server. Check the server's fingerprint out of band (on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); only if the change is expected, remove the old key with \`ssh-keygen -R '${knownHostsName(o.target)}'\` and connect once by hand (\`${manual}\`) to accept the new one.`,
      details,
    });
  }
  if (has(/No \S+ host key is known for|Host key verification failed|authenticity of host .* can't be established/i)) {
    const port = o.target.port === undefined ? '' : ` -p ${o.target.port}`;
    return new SlipwayError('HOST_KEY_UNKNOWN', `${where} is not in known_hosts, and slipway does not accept unknown host keys.`, {
      hint: `Fetch its key with \`ssh-keyscan${port} ${o.target.host}\`, compare the fingerprint (ssh-keygen -lf) with the server's own, then add the line to known_hosts; or connect once by hand (\`${manual}\`) and confirm the fingerprint.`,
      details,
    });
  }
  if (has(/Permission denied \(|Too many authentication failures|No more authentication methods/i)) {
    return new SlipwayError('SSH_AUTH_FAILED', `${where} refused our SSH key.`, {
      hint: `Add your public key to ~/.ssh/authorized_keys of ${o.target.user ?? 'the remote user'} there, and make sure ssh can use the private key (ssh-add -l, or IdentityFile in your ssh config); \`${manual} true\` must work without a password.`,
      details,
    });
  }
  if (has(/Bad configuration option|bad configuration options|Can't open user config file|Bad owner or permissions|Unsupported option|keyword .* extra arguments/i)) {
    return new SlipwayError('SSH_CONFIG_INVALID', `ssh could not read its configuration for ${where}.`, {
      hint: settings.configFile === undefined ? 'Fix the line ssh names in ~/.ssh/config.' : `Fix the line ssh names in ${settings.configFile} (set by SLIPWAY_SSH_CONFIG).`,
      details,
      exitCode: 2,
    });
  }
  if (
    has(
      /Connection refused|Connection timed out|Operation timed out|timed out during banner exchange|No route to host|Network is unreachable|Could not resolve hostname|Name or service not known|Temporary failure in name resolution|kex_exchange_identification|Connection reset by peer|Connection closed by|not responding/i,
    )
  ) {
    return new SlipwayError('HOST_UNREACHABLE', `Cannot reach ${where} over SSH.`, {
      hint: `Check the host name and port, that the host is up and sshd listens there, and the network or firewall in between; \`${manual} true\` shows the same error.`,
      details,
    });
  }
  return new SlipwayError('SSH_CONNECT_FAILED', `Could not open an SSH connection to ${where}.`, {
    hint: `Run \`${manual} -v true\` to see why.`,
    details,
  });
}

function sshClientMissing(cause: unknown): SlipwayError {
  return new SlipwayError('SSH_CLIENT_MISSING', 'The OpenSSH client (ssh) is not installed or not on PATH.', {
    hint: 'Install it (e.g. apt install openssh-client) and try again.',
    cause,
  });
}

interface ExecResult {
  code: number | null;
  stderr: string;
  stdout: string;
}

/** Runs a short local ssh command (never throws for a non-zero exit). */
function execSsh(args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile('ssh', args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') return reject(sshClientMissing(error));
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `-o StrictHostKeyChecking=yes` unless the user's ssh_config says otherwise for this
 * host: a command-line option would override their choice, and OpenSSH's default
 * ("ask") is what tells the two apart. Also reports a broken config before connecting.
 */
async function hostKeyCheckingArgs(target: SshTarget, settings: SshSettings): Promise<string[]> {
  const resolved = await execSsh(['-G', ...connectionArgs(target, settings), '--', target.host], 10_000);
  if (resolved.code !== 0) throw classifySshFailure({ target, settings, stderr: resolved.stderr });
  const value = /^stricthostkeychecking (\S+)$/m.exec(resolved.stdout)?.[1];
  return value === undefined || value === 'ask' ? ['-o', 'StrictHostKeyChecking=yes'] : [];
}

/** Unix socket paths are limited to ~104 bytes and ssh appends 17 characters while binding. */
function shortTempRoot(): string {
  const tmp = os.tmpdir();
  return tmp.length <= 40 ? tmp : '/tmp';
}

/** Masters still running when the process exits are stopped, so none outlives the CLI. */
const liveMasters = new Map<ChildProcess, string>();
let exitHookInstalled = false;
function trackMaster(child: ChildProcess, dir: string): void {
  liveMasters.set(child, dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [master, masterDir] of liveMasters) {
      master.kill('SIGTERM');
      rmSync(masterDir, { recursive: true, force: true });
    }
  });
}

interface MasterExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class SshConnection {
  readonly target: SshTarget;
  private readonly settings: SshSettings;
  private readonly dir: string;
  private readonly controlPath: string;
  /** connection options plus host key checking, shared by the master and its clients */
  private readonly args: string[];
  private readonly master: ChildProcess;
  private masterStderr = '';
  private masterExit: MasterExit | null = null;
  private masterSpawnError: unknown;
  private readonly masterExited: Promise<MasterExit>;
  private closing: Promise<void> | null = null;

  private constructor(o: { target: SshTarget; settings: SshSettings; dir: string; args: string[] }) {
    this.target = o.target;
    this.settings = o.settings;
    this.dir = o.dir;
    this.controlPath = path.join(o.dir, 'c');
    this.args = o.args;
    // We own the master process, so no ControlPersist: it lives exactly as long as this object.
    this.master = spawn('ssh', ['-M', '-N', '-S', this.controlPath, '-o', 'ControlPersist=no', ...this.args, '--', this.target.host], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    trackMaster(this.master, this.dir);
    this.master.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.masterStderr = appendTail(this.masterStderr, chunk);
    });
    this.master.on('error', (error) => {
      this.masterSpawnError = error;
    });
    this.masterExited = new Promise((resolve) => {
      this.master.on('close', (code, signal) => {
        this.masterExit = { code, signal };
        liveMasters.delete(this.master);
        resolve(this.masterExit);
      });
    });
  }

  /**
   * Connects (ssh -M -N) and resolves once the master accepts commands; a failure to
   * connect is classified (HOST_KEY_MISMATCH, HOST_KEY_UNKNOWN, SSH_AUTH_FAILED,
   * HOST_UNREACHABLE, ...) and nothing is left running.
   */
  static async open(target: SshTarget, settings: SshSettings = {}): Promise<SshConnection> {
    const args = [...connectionArgs(target, settings), ...(await hostKeyCheckingArgs(target, settings))];
    const dir = await fs.mkdtemp(path.join(shortTempRoot(), 'slw-'));
    await fs.chmod(dir, 0o700);
    const connection = new SshConnection({ target, settings, dir, args });
    try {
      await connection.waitUntilReady();
    } catch (error) {
      await connection.close();
      throw error;
    }
    return connection;
  }

  private async waitUntilReady(): Promise<void> {
    // ConnectTimeout covers connecting and the handshake; the margin is for authentication.
    const limitSeconds = (this.settings.connectTimeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS) + 30;
    const deadline = Date.now() + limitSeconds * 1000;
    for (;;) {
      if (this.masterExit) {
        if (this.masterSpawnError !== undefined) throw sshClientMissing(this.masterSpawnError);
        throw classifySshFailure({ target: this.target, settings: this.settings, stderr: this.masterStderr });
      }
      // the socket appears (renamed into place) only once the master is authenticated
      const ready = await fs.stat(this.controlPath).then((stat) => stat.isSocket(), () => false);
      if (ready && (await this.masterAnswers())) return;
      if (Date.now() > deadline) {
        throw new SlipwayError('HOST_UNREACHABLE', `The SSH connection to ${describeTarget(this.target)} did not finish within ${limitSeconds} s.`, {
          hint: `Check that the host answers \`${manualSshCommand(this.target, this.settings)} true\` promptly.`,
          details: [`host: ${describeTarget(this.target)}`, ...(lastLine(this.masterStderr) ? [`ssh said: ${lastLine(this.masterStderr)}`] : [])],
        });
      }
      await Promise.race([delay(25), this.masterExited]);
    }
  }

  private controlArgs(operation: string): string[] {
    return ['-S', this.controlPath, '-O', operation, ...this.args, '--', this.target.host];
  }

  private async masterAnswers(): Promise<boolean> {
    if (this.masterExit) return false;
    try {
      return (await execSsh(this.controlArgs('check'), 10_000)).code === 0;
    } catch {
      return false;
    }
  }

  private assertUsable(argv: string[]): void {
    if (this.closing) throw new Error(`the SSH connection to ${describeTarget(this.target)} is already closed`);
    if (this.masterExit) throw this.lostError(argv, '');
  }

  private lostError(argv: string[], clientStderr: string): SlipwayError {
    const where = describeTarget(this.target);
    const command = argv.join(' ');
    const said = lastLine(this.masterStderr) || lastLine(clientStderr);
    return new SlipwayError('CONNECTION_LOST', `Lost the SSH connection to ${where} while running "${command.length > 80 ? `${command.slice(0, 77)}...` : command}".`, {
      hint: `Check that the host is up and reachable (\`${manualSshCommand(this.target, this.settings)} true\`), then run again; the command may or may not have finished there.`,
      details: [`host: ${where}`, ...(said ? [`ssh said: ${said}`] : [])],
    });
  }

  /** Exit 255 is either the remote command's own code or ssh losing the connection: the master tells which. */
  private async connectionGone(): Promise<boolean> {
    return this.masterExit !== null || !(await this.masterAnswers());
  }

  private spawnClient(argv: string[], env: Record<string, string> | undefined, stdin: 'pipe' | 'ignore'): ChildProcess {
    const commandLine = remoteCommandLine(argv, env);
    return spawn(
      'ssh',
      [
        '-S', this.controlPath,
        '-o', 'ControlMaster=no',
        // Without a master, ssh would quietly connect on its own; a proxy that fails at once
        // makes it fail instead (the proxy is never used while the master answers).
        '-o', 'ProxyCommand=false',
        '-o', 'RemoteCommand=none',
        '-T',
        ...this.args,
        '--', this.target.host, commandLine,
      ],
      { stdio: [stdin, 'pipe', 'pipe'] },
    );
  }

  /**
   * Runs argv on the host over the master. Non-zero exit codes are returned; a lost
   * connection rejects with CONNECTION_LOST, a timeout with REMOTE_COMMAND_TIMEOUT.
   */
  async run(argv: string[], options: SshRunOptions = {}): Promise<SshRunResult> {
    this.assertUsable(argv);
    const child = this.spawnClient(argv, options.env, options.input === undefined ? 'ignore' : 'pipe');
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      options.onStdout?.(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      options.onStderr?.(chunk);
    });
    let spawnError: unknown;
    let inputError: unknown;
    child.on('error', (error) => {
      spawnError = error;
    });
    const input = options.input;
    if (input !== undefined) {
      // the remote command may exit without reading all of it
      child.stdin!.on('error', () => {});
      if (typeof input === 'string' || Buffer.isBuffer(input)) {
        child.stdin!.end(input);
      } else {
        input.on('error', (error) => {
          inputError = error;
          child.kill('SIGTERM');
        });
        input.pipe(child.stdin!);
      }
    }
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
            killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
          }, options.timeoutMs);
    child.on('exit', (_code, exitSignal) => {
      // The master holds the client's pipes (ssh passes them over the control socket) until
      // the remote command ends, so a killed client's output would stay open: close it here.
      if (timedOut || exitSignal !== null) for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
    });
    const { code, signal } = await new Promise<MasterExit>((resolve) => child.on('close', (c, s) => resolve({ code: c, signal: s })));
    clearTimeout(timer);
    clearTimeout(killTimer);
    const stderrText = Buffer.concat(stderr).toString('utf8');

    if ((spawnError as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw sshClientMissing(spawnError);
    if (spawnError) throw spawnError;
    if (inputError) throw inputError;
    if (timedOut) {
      throw new SlipwayError('REMOTE_COMMAND_TIMEOUT', `"${argv.join(' ')}" on ${describeTarget(this.target)} did not finish within ${options.timeoutMs} ms.`, {
        hint: 'Look at what the command is waiting for on the host; it may still be running there.',
        details: [`host: ${describeTarget(this.target)}`, ...(lastLine(stderrText) ? [`last output: ${lastLine(stderrText)}`] : [])],
      });
    }
    if (code === 255 && (await this.connectionGone())) throw this.lostError(argv, stderrText);
    if (code === null) {
      // our local ssh client was killed by someone else
      const signo = signal === null ? 0 : (os.constants.signals[signal] ?? 0);
      return { exitCode: 128 + signo, stdout: Buffer.concat(stdout), stderr: stderrText };
    }
    return { exitCode: code, stdout: Buffer.concat(stdout), stderr: stderrText };
  }

  /**
   * Starts argv on the host with stdin, stdout and stderr piped, for streaming (e.g.
   * sending a release). An exit code of 255 may mean a lost connection: call
   * checkConnection() to tell. Throws CONNECTION_LOST at once when the connection is
   * already known to be gone. The master holds the pipes while the remote command runs,
   * so after killing the returned process wait for 'exit' (not 'close') and destroy its streams.
   */
  spawn(argv: string[], options: { env?: Record<string, string> } = {}): ChildProcess {
    this.assertUsable(argv);
    return this.spawnClient(argv, options.env, 'pipe');
  }

  /** Rejects with CONNECTION_LOST when the master connection is gone. */
  async checkConnection(): Promise<void> {
    if (this.closing) throw new Error(`the SSH connection to ${describeTarget(this.target)} is already closed`);
    if (await this.connectionGone()) throw this.lostError(['(connection check)'], '');
  }

  /** Ends the master (ssh -O exit, then signals) and removes its socket folder; safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (!this.masterExit) {
      await execSsh(this.controlArgs('exit'), 5000).catch(() => undefined);
      const stopped = await Promise.race([this.masterExited.then(() => true), delay(2000, undefined, { ref: false }).then(() => false)]);
      if (!stopped) {
        this.master.kill('SIGTERM');
        const ended = await Promise.race([this.masterExited.then(() => true), delay(3000, undefined, { ref: false }).then(() => false)]);
        if (!ended) this.master.kill('SIGKILL');
        await this.masterExited;
      }
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
