/**
 * slipway on a remote host, driven over one multiplexed SSH connection. Every
 * host-scoped command runs there exactly as on a local host: `setup` ships the
 * CLI bundle and a small project file naming one local environment, and this
 * module runs `slipway <args> --config <root>/slipway.yml` with SLIPWAY_HOME=<root>.
 *
 * Layout of a host's root: cli/<bundle sha>/ (cli/current → the active one),
 * slipway.yml, keys/, store/ (releases sent to or pulled by the host), and the
 * host folders of src/host/layout.ts (releases/, current, shared/, backups/, …).
 */
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { SlipwayError, redactSecrets } from '../errors.js';
import type { RemoteHostConfig } from '../config/types.js';
import { createLineSplitter } from '../util/line-splitter.js';
import { SshConnection, parseSshUrl, type SshSettings } from './ssh.js';

export interface RemotePaths {
  root: string;
  configFile: string;
  cliDir: string;
  cliCurrent: string;
  cliEntry: string;
  keysDir: string;
}

export function remotePaths(root: string): RemotePaths {
  const at = (...parts: string[]) => path.posix.join(root, ...parts);
  return {
    root,
    configFile: at('slipway.yml'),
    cliDir: at('cli'),
    cliCurrent: at('cli', 'current'),
    cliEntry: at('cli', 'current', 'bin', 'slipway.js'),
    keysDir: at('keys'),
  };
}

export interface RemoteRunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export class RemoteSlipway {
  /** recorded as who did it in the host's history (the operator running the CLI) */
  who: string | null = null;

  private constructor(
    readonly host: RemoteHostConfig,
    readonly connection: SshConnection,
    readonly paths: RemotePaths,
    readonly environment: string,
  ) {}

  get name(): string {
    return this.host.name;
  }

  /** Opens the host's SSH connection and finds its root folder (default ~/.slipway/hosts/<app>/<env> of the SSH user). */
  static async connect(options: { host: RemoteHostConfig; app: string; environment: string; settings: SshSettings }): Promise<RemoteSlipway> {
    const connection = await SshConnection.open(parseSshUrl(options.host.ssh), options.settings);
    try {
      let root = options.host.root;
      if (root === undefined) {
        const home = await connection.run(['printenv', 'HOME']);
        const dir = home.stdout.toString('utf8').trim();
        if (home.exitCode !== 0 || !path.posix.isAbsolute(dir)) {
          throw new SlipwayError('HOST_ROOT_UNKNOWN', `cannot find the home folder of the SSH user on ${options.host.name}`, {
            hint: `set root: /srv/slipway (an absolute folder) for host ${options.host.name} in slipway.yml`,
          });
        }
        root = path.posix.join(dir, '.slipway', 'hosts', options.app, options.environment);
      }
      return new RemoteSlipway(options.host, connection, remotePaths(root), options.environment);
    } catch (error) {
      await connection.close();
      throw error;
    }
  }

  /** The command line that runs slipway on the host (node from the host's PATH). */
  slipwayArgv(args: string[]): string[] {
    const who = this.who ? [`SLIPWAY_WHO=${this.who}`] : [];
    // --config goes before a `--`: what follows it is the command `slipway exec` runs.
    const end = args.includes('--') ? args.indexOf('--') : args.length;
    return ['env', `SLIPWAY_HOME=${this.paths.root}`, ...who, 'node', this.paths.cliEntry, ...args.slice(0, end), '--config', this.paths.configFile, ...args.slice(end)];
  }

  /** Runs `slipway <args>` on the host; a non-zero exit is returned, a lost connection throws. */
  async slipway(args: string[], options: { input?: Buffer | string | NodeJS.ReadableStream; onStderrLine?: (line: string) => void; onStdout?: (chunk: Buffer) => void; timeoutMs?: number } = {}): Promise<RemoteRunResult> {
    const lines = options.onStderrLine ? createLineSplitter(options.onStderrLine) : null;
    const result = await this.connection
      .run(this.slipwayArgv(args), {
        ...(options.input === undefined ? {} : { input: options.input }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.onStdout ? { onStdout: options.onStdout } : {}),
        ...(lines ? { onStderr: (chunk: Buffer) => lines.push(chunk) } : {}),
      })
      .catch((error: unknown) => {
        if (error instanceof SlipwayError && error.code === 'CONNECTION_LOST') {
          // Said in slipway's terms: which host, which command, and what the host does meanwhile.
          throw new SlipwayError('CONNECTION_LOST', `lost the SSH connection to ${this.name} during \`slipway ${args.slice(0, 2).join(' ')}\``, {
            hint: `the agent on ${this.name} finishes or undoes its update on its own; when the host is back, check it with \`slipway status ${this.environment} --host ${this.name}\` (and \`slipway rollback ${this.environment} --host ${this.name}\` if needed)`,
            details: error.details,
            cause: error,
          });
        }
        throw error;
      });
    lines?.end();
    return { exitCode: result.exitCode, stdout: result.stdout.toString('utf8'), stderr: result.stderr };
  }

  /** Runs a slipway command that prints JSON; a failure becomes a SlipwayError carrying the host's own message. */
  async slipwayJson<T>(args: string[], options: { onStderrLine?: (line: string) => void; timeoutMs?: number } = {}): Promise<T> {
    const result = await this.slipway([...args, '--json'], options);
    if (result.exitCode !== 0) throw this.failure(args, result);
    try {
      return JSON.parse(result.stdout) as T;
    } catch {
      throw new SlipwayError('REMOTE_OUTPUT_INVALID', `${this.name}: \`slipway ${args[0]}\` did not print JSON`, {
        hint: `is slipway on ${this.name} the same version? run \`slipway setup ${this.environment}\``,
        details: result.stdout.split('\n').slice(0, 5),
      });
    }
  }

  /** Runs a plain command (not slipway) on the host. */
  run(argv: string[], options: { input?: Buffer | string | NodeJS.ReadableStream; timeoutMs?: number; onStdout?: (chunk: Buffer) => void; onStderr?: (chunk: Buffer) => void } = {}) {
    return this.connection.run(argv, options);
  }

  spawnSlipway(args: string[]): ChildProcess {
    return this.connection.spawn(this.slipwayArgv(args));
  }

  /** The error for a failed remote command: the host's own error lines, never a stack of ours. */
  failure(args: string[], result: RemoteRunResult): SlipwayError {
    const lines = result.stderr.split('\n').map((l) => l.trimEnd()).filter(Boolean);
    const errorLine = lines.find((l) => l.startsWith('error: ')) ?? lines.at(-1) ?? `exit code ${result.exitCode}`;
    const hint = lines.find((l) => l.startsWith('hint: '))?.slice('hint: '.length);
    if (result.exitCode === 127 || /Cannot find module|node: not found|No such file/.test(result.stderr)) {
      return new SlipwayError('SLIPWAY_NOT_INSTALLED', `slipway is not installed on ${this.name} (${this.paths.root})`, {
        hint: `run \`slipway setup ${this.environment}\` first`,
        details: [redactSecrets(errorLine)],
      });
    }
    return new SlipwayError('REMOTE_COMMAND_FAILED', `${this.name}: ${redactSecrets(errorLine.replace(/^error: /, ''))}`, {
      hint: hint ?? `see \`slipway ${args[0]} ${this.environment} --host ${this.name}\``,
      details: lines.filter((l) => l !== errorLine && !l.startsWith('hint: ')).slice(-8).map(redactSecrets),
    });
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
