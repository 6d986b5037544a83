import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { isProcessGroupRunning, processStartTime, signalProcessGroup } from './process-info.js';
import { RestartBudget, serviceLogLine, type RestartPolicy } from './restart-policy.js';
import { DEFAULT_LOG_ROTATE_BYTES, KEPT_LOG_FILES, RotatingLog, tailLines } from './rotating-log.js';

export { tailLines };
export type { RestartPolicy };

/**
 * Runs one service process of one release slot: spawns the author's command in its own process group
 * (so the service and everything it starts can be signalled as a whole), restarts it with exponential
 * backoff when it crashes, and stops the whole group on request.
 */

export interface ServiceSpec {
  name: string;
  /** the app author's shell command, run with `sh -c` */
  command: string;
  cwd: string;
  /** the complete environment of the process (process.env is not added: the caller decides what the app sees) */
  env: Record<string, string>;
  /**
   * stdout and stderr are appended here, in the order written, with a timestamped line at each
   * start and exit. They pass through the supervisor, which rotates the file by size.
   */
  logFile: string;
  /** `{pid, pgid, startedAt, startTime, command}` written at each spawn, removed on a clean stop; see killStaleProcesses */
  pidFile?: string;
  /** default: 5 restarts per minute, backoff 500 ms doubling up to 10 s */
  restart?: RestartPolicy;
  /** the log is rotated (.1, .2, .3 kept) before it grows past this, while the service writes and at (re)spawn; default 10 MiB */
  logRotateBytes?: number;
}

export type ServiceState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped' | 'failed';

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** set when the process could not be started at all */
  error?: string;
  willRestart: boolean;
  restartInMs?: number;
}

export interface SupervisedService {
  readonly name: string;
  pid(): number | undefined;
  state(): ServiceState;
  /** true while a process of this service is running (false during backoff, after a stop or a failure) */
  isAlive(): boolean;
  /** how many times the process was restarted after a crash */
  restarts(): number;
  /** SIGTERM to the whole process group, SIGKILL after graceMs (default 10 000); resolves when the group is gone */
  stop(o?: { graceMs?: number }): Promise<void>;
  /** the last lines of the log file (slipway's own start/exit lines included), for error messages */
  lastOutput(lines?: number): Promise<string[]>;
  /**
   * Resolves once an exit that has already happened is in the log (at most `timeoutMs`). A container's
   * exit reaches slipway through the engine, later than a failed health probe can: without this wait
   * an error could quote the output from before the exit and not how it ended. Processes need none.
   */
  settled?(timeoutMs: number): Promise<void>;
  /**
   * True when the last stop() returned with the service still running: its container's engine did
   * not answer, and it is stopped once the engine does. Processes are always stopped when stop() returns.
   */
  stopPostponed?(): boolean;
  /** called each time the process exits, except when stop() ended it */
  on(event: 'exit', listener: (info: ServiceExit) => void): this;
  off(event: 'exit', listener: (info: ServiceExit) => void): this;
}

export interface PidFileContent {
  name: string;
  pid: number;
  pgid: number;
  startedAt: string;
  /** processStartTime(pid) at spawn: tells this process apart from a later one that got the same pid */
  startTime: string | null;
  command: string;
}

const DEFAULT_GRACE_MS = 10_000;
/** after SIGKILL a group is gone almost at once; a process stuck in the kernel is not worth hanging a stop for */
const KILL_WAIT_MS = 5_000;
const POLL_MS = 25;
/** after the process exits, how long its output may take to arrive (longer only when a leftover child holds the pipe) */
const OUTPUT_DRAIN_MS = 200;

export function startService(spec: ServiceSpec): SupervisedService {
  return new ServiceSupervisor(spec);
}

class ServiceSupervisor extends EventEmitter implements SupervisedService {
  readonly name: string;
  private readonly budget: RestartBudget;
  private current: ServiceState = 'starting';
  private child: ChildProcess | undefined;
  /** the process group of the latest spawn; outlives its leader when children linger */
  private pgid: number | undefined;
  private childExited: Promise<void> = Promise.resolve();
  private backoffTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private readonly output: RotatingLog;
  /** the read ends of the latest process's stdout and stderr */
  private pipes: Readable[] = [];

  constructor(private readonly spec: ServiceSpec) {
    super();
    this.name = spec.name;
    this.budget = new RestartBudget(spec.restart);
    this.output = new RotatingLog(spec.logFile, { maxBytes: spec.logRotateBytes ?? DEFAULT_LOG_ROTATE_BYTES, keep: KEPT_LOG_FILES });
    this.spawnProcess();
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  state(): ServiceState {
    return this.current;
  }

  isAlive(): boolean {
    return this.child !== undefined && (this.current === 'starting' || this.current === 'running');
  }

  restarts(): number {
    return this.budget.restarts();
  }

  stop(o: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.stopGroup(o.graceMs ?? DEFAULT_GRACE_MS);
    return this.stopping;
  }

  async lastOutput(lines = 30): Promise<string[]> {
    return tailLines(this.spec.logFile, lines);
  }

  private async stopGroup(graceMs: number): Promise<void> {
    const finalState = this.current === 'failed' ? 'failed' : 'stopped';
    this.current = 'stopping';
    clearTimeout(this.backoffTimer);
    const pgid = this.pgid;
    if (pgid !== undefined && signalProcessGroup(pgid, 'SIGTERM')) {
      const gone = await waitUntil(() => !isProcessGroupRunning(pgid), graceMs);
      if (!gone) {
        this.log(`${this.name} still running ${graceMs}ms after SIGTERM: sending SIGKILL`);
        signalProcessGroup(pgid, 'SIGKILL');
        await waitUntil(() => !isProcessGroupRunning(pgid), KILL_WAIT_MS);
      }
    }
    await this.childExited;
    this.closePipes();
    this.removePidFile();
    this.current = finalState;
  }

  /** A process that left the group (setsid) may still hold the pipes: it gets EPIPE, the agent no open handle. */
  private closePipes(): void {
    for (const pipe of this.pipes) pipe.destroy();
    this.pipes = [];
  }

  private spawnProcess(): void {
    this.current = 'starting';
    const { spec } = this;
    let child: ChildProcess;
    try {
      mkdirSync(path.dirname(spec.logFile), { recursive: true });
      this.output.rotateIfOver();
      const attempt = this.budget.restarts() > 0 ? ` (restart ${this.budget.restarts()})` : '';
      this.output.write(serviceLogLine(`starting ${spec.name}${attempt} in ${spec.cwd}: ${spec.command}`));
      // detached: the shell leads a new process group, so a signal to -pid reaches everything it starts.
      // Its output comes through the supervisor (which rotates the log); `exec 2>&1` puts stderr on
      // the same pipe as stdout, so the two stay in the order they were written.
      child = spawn('sh', ['-c', `exec 2>&1\n${spec.command}`], { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      queueMicrotask(() => this.onExit(undefined, { code: null, signal: null, error: (error as Error).message }));
      return;
    }

    this.child = child;
    this.pgid = child.pid;
    const pipes = [child.stdout!, child.stderr!];
    this.pipes = pipes;
    const outputEnded = Promise.all(
      pipes.map((pipe) => {
        pipe.on('data', (chunk: Buffer) => this.writeOutput(chunk));
        return new Promise<void>((resolve) => {
          pipe.once('close', () => resolve());
          pipe.once('error', () => resolve());
        });
      }),
    );
    let exited = false;
    let markExited: () => void = () => undefined;
    this.childExited = new Promise((resolve) => (markExited = resolve));
    const handleExit = (info: { code: number | null; signal: NodeJS.Signals | null; error?: string }) => {
      if (exited) return;
      exited = true;
      this.onExit(child, info);
      markExited();
    };
    child.once('spawn', () => {
      if (this.current === 'starting' && this.child === child) this.current = 'running';
    });
    // The exit line follows the process's last output: wait for its pipes (briefly: a leftover child may hold them).
    child.once('exit', (code, signal) => {
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<void>((resolve) => (timer = setTimeout(resolve, OUTPUT_DRAIN_MS)));
      void Promise.race([outputEnded, drained]).then(() => {
        clearTimeout(timer);
        handleExit({ code, signal });
      });
    });
    // 'error' without a pid means the shell never started (missing cwd, no sh); with a pid it is a failed kill, harmless.
    child.on('error', (error) => {
      if (child.pid === undefined) handleExit({ code: null, signal: null, error: error.message });
    });
    if (child.pid !== undefined) this.writePidFile(child.pid);
  }

  private onExit(child: ChildProcess | undefined, info: { code: number | null; signal: NodeJS.Signals | null; error?: string }): void {
    if (child !== undefined && this.child !== child) return;
    this.child = undefined;
    const how = info.error ? `could not start: ${info.error}` : `exited (code ${info.code ?? '-'}, signal ${info.signal ?? '-'})`;

    if (this.current === 'stopping') {
      this.log(`${this.spec.name} ${how} after stop`);
      return;
    }
    // Whatever the shell left behind (a background child holding the port) goes with it.
    if (this.pgid !== undefined) signalProcessGroup(this.pgid, 'SIGKILL');
    // Forget the id: once the group is empty the OS may hand it to an unrelated process.
    this.pgid = undefined;

    const verdict = this.budget.afterCrash();
    this.log(`${this.spec.name} ${how}; ${this.budget.describe(verdict)}`);
    if (!verdict.restart) {
      this.current = 'failed';
      this.closePipes();
      this.removePidFile();
      this.emit('exit', { ...info, willRestart: false } satisfies ServiceExit);
      return;
    }
    this.current = 'backoff';
    this.backoffTimer = setTimeout(() => {
      if (this.current !== 'backoff') return;
      this.budget.recordRestart();
      this.spawnProcess();
    }, verdict.delayMs);
    this.emit('exit', { ...info, willRestart: true, restartInMs: verdict.delayMs } satisfies ServiceExit);
  }

  private writePidFile(pid: number): void {
    const file = this.spec.pidFile;
    if (!file) return;
    const content: PidFileContent = {
      name: this.spec.name,
      pid,
      pgid: pid,
      startedAt: new Date().toISOString(),
      startTime: processStartTime(pid),
      command: this.spec.command,
    };
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const temp = `${file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(content, null, 2) + '\n');
      renameSync(temp, file);
    } catch (error) {
      // Not worth failing a running service over (this also runs from a timer, where a throw would crash the agent).
      this.log(`could not write the pid file ${file}: ${(error as Error).message}`);
    }
  }

  private removePidFile(): void {
    if (this.spec.pidFile) rmSync(this.spec.pidFile, { force: true });
  }

  private log(text: string): void {
    this.writeOutput(serviceLogLine(text));
  }

  private writeOutput(data: Buffer | string): void {
    try {
      this.output.write(data);
    } catch {
      // the log folder vanished or the disk is full: the service runs on; nothing useful to do from a stream or exit handler
    }
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (condition()) return true;
    if (Date.now() >= end) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/**
 * Stops service process groups that a previous agent (killed before it could stop them) left running,
 * using the `*.pid` files in `runDir`. A group is killed only when it is provably the one the file names:
 * its leader has the recorded start time, or the leader is gone but the group still exists (POSIX does
 * not reuse a pid while a group with that id lives). Every pid file read is removed.
 * Returns how many groups it killed.
 */
export async function killStaleProcesses(runDir: string, o: { graceMs?: number } = {}): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(runDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let killed = 0;
  for (const entry of entries.filter((name) => name.endsWith('.pid')).sort()) {
    const file = path.join(runDir, entry);
    const record = parsePidFile(await readFile(file, 'utf8').catch(() => ''));
    if (record && isOurGroup(record) && signalIfPermitted(record.pgid, 'SIGTERM')) {
      if (!(await waitUntil(() => !isProcessGroupRunning(record.pgid), o.graceMs ?? DEFAULT_GRACE_MS))) {
        signalIfPermitted(record.pgid, 'SIGKILL');
        await waitUntil(() => !isProcessGroupRunning(record.pgid), KILL_WAIT_MS);
      }
      killed += 1;
    }
    await rm(file, { force: true });
  }
  return killed;
}

/** A group owned by another user (EPERM) is not ours to stop. */
function signalIfPermitted(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    return signalProcessGroup(pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPERM') return false;
    throw error;
  }
}

function isOurGroup(record: PidFileContent): boolean {
  const leaderStart = processStartTime(record.pid);
  if (leaderStart !== null) return record.startTime !== null && leaderStart === record.startTime;
  return isProcessGroupRunning(record.pgid);
}

function parsePidFile(text: string): PidFileContent | null {
  try {
    const value = JSON.parse(text) as Partial<PidFileContent>;
    const usable = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > 1;
    if (!usable(value.pid) || !usable(value.pgid)) return null;
    return {
      name: String(value.name ?? ''),
      pid: value.pid,
      pgid: value.pgid,
      startedAt: String(value.startedAt ?? ''),
      startTime: typeof value.startTime === 'string' ? value.startTime : null,
      command: String(value.command ?? ''),
    };
  } catch {
    return null;
  }
}
