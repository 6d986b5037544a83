/**
 * One SSH connection: a ControlMaster per host that carries every command of a
 * rollout, so nothing reconnects per command, and the commands run over it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SlipwayError } from '../errors.js';
import { remoteCommandLine } from './shell-quote.js';
import { execSsh, hostKeyCheckingArgs } from './ssh-exec.js';
import { classifySshFailure, lastLine, sshClientMissing } from './ssh-failure.js';
import { shortTempRoot, trackMaster, untrackMaster } from './ssh-master.js';
import { DEFAULT_CONNECT_TIMEOUT_SECONDS, connectionArgs, manualSshCommand, type SshSettings } from './ssh-settings.js';
import { describeTarget, type SshTarget } from './ssh-target.js';

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

/** kept of ssh's own stderr for error messages */
const STDERR_TAIL_BYTES = 16 * 1024;

function appendTail(tail: string, chunk: string): string {
  const joined = tail + chunk;
  return joined.length > STDERR_TAIL_BYTES ? joined.slice(-STDERR_TAIL_BYTES) : joined;
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
        untrackMaster(this.master);
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
