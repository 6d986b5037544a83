/**
 * Runs one service of one release slot as a Docker container, under the same contract as a
 * supervised process (SupervisedService): its output in the same rotating log with the same
 * start and exit lines, restarted with the same backoff when it crashes, stopped with SIGTERM
 * then a kill after the grace time. A stopped container is kept, not removed: it goes when its
 * release is pruned (container-cleanup.ts).
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Container } from 'dockerode';
import { engineFailure, isNotFound, LABELS, type DockerClient } from '../container/engine.js';
import { SlipwayError } from '../errors.js';
import { containerOptions, shortImageId, type BindMount } from './container-spec.js';
import { RestartBudget, serviceLogLine, type RestartPolicy } from './restart-policy.js';
import { DEFAULT_LOG_ROTATE_BYTES, KEPT_LOG_FILES, RotatingLog, tailLines } from './rotating-log.js';
import type { ServiceExit, ServiceState, SupervisedService } from './supervisor.js';
import { connectEngineWaiting, containerEnded, ENGINE_RETRY_MS, isEngineAway, sleep, whileEngineAway } from './engine-wait.js';

export interface ContainerServiceSpec {
  /** `<service>.<slot>`, as in the log's lines */
  name: string;
  /** the engine's name for it: a container of that name from an earlier start (ours, by its labels) is replaced */
  containerName: string;
  imageId: string;
  /** the author's shell line, run with `sh -c` in the container; absent: the image's own command */
  command?: string;
  /** the whole environment the app sees besides the image's own ENV */
  env: Record<string, string>;
  labels: Record<string, string>;
  mounts: BindMount[];
  /** the same rotating log a process of this service writes */
  logFile: string;
  /** default: as for processes, 5 restarts per minute, backoff 500 ms doubling up to 10 s */
  restart?: RestartPolicy;
  logRotateBytes?: number;
  /** a client for the engine (default: connectEngine()) */
  docker?: DockerClient;
}

const DEFAULT_GRACE_MS = 10_000;
/** after the container stops, how long its last output may take to arrive through the attach stream */
const OUTPUT_DRAIN_MS = 500;
/** before waiting again for a container whose wait failed while it still runs */
const WAIT_RETRY_MS = 250;
/** Creates the container and starts it; a container that cannot be created or started throws (DOCKER_*, IMAGE_MISSING…). */
export async function startContainerService(spec: ContainerServiceSpec): Promise<SupervisedService> {
  const docker = spec.docker ?? (await connectEngineWaiting());
  const container = await createReplacing(docker, spec);
  const service = new ContainerService(container, spec);
  await service.firstStart();
  return service;
}

/** Creates the container; one of the same name that is ours (same app and environment) is removed first. */
async function createReplacing(docker: DockerClient, spec: ContainerServiceSpec): Promise<Container> {
  const existing = docker.getContainer(spec.containerName);
  try {
    const info = await existing.inspect();
    const ours = [LABELS.app, LABELS.environment].every((label) => info.Config.Labels?.[label] === spec.labels[label]);
    if (!ours) {
      throw new SlipwayError('CONTAINER_NAME_TAKEN', `a container named ${spec.containerName} exists and is not this app's`, {
        hint: `rename or remove it (\`docker rm ${spec.containerName}\`) if it is not needed`,
      });
    }
    await existing.remove({ force: true });
  } catch (error) {
    if (!isNotFound(error)) throw engineFailure(`replacing the container ${spec.containerName}`, error);
  }
  try {
    return await docker.createContainer(containerOptions(spec));
  } catch (error) {
    throw engineFailure(`creating the container of ${spec.name} from the image ${shortImageId(spec.imageId)}`, error);
  }
}

interface ContainerExit {
  code: number | null;
  error?: string;
  oomKilled?: boolean;
}

class ContainerService extends EventEmitter implements SupervisedService {
  readonly name: string;
  private current: ServiceState = 'starting';
  private running = false;
  private hostPid: number | undefined;
  private readonly budget: RestartBudget;
  private readonly output: RotatingLog;
  /** settles once the latest run's exit has been handled (its last output written) */
  private runEnded: Promise<void> = Promise.resolve();
  /** a start in progress (the first, or a restart after backoff) */
  private starting: Promise<void> = Promise.resolve();
  private backoffTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private lastExit: ContainerExit | undefined;
  /** the engine went away while a stop waited for it: the exit can no longer be watched */
  private watchAbandoned = false;
  /** the container was left running by a stop the engine did not answer; stopped once it does */
  private stopPending = false;
  /** since when the engine has not answered the exit watch (undefined: it answers) */
  private engineAwaySince: number | undefined;

  constructor(
    private readonly container: Container,
    private readonly spec: ContainerServiceSpec,
  ) {
    super();
    this.name = spec.name;
    this.budget = new RestartBudget(spec.restart);
    this.output = new RotatingLog(spec.logFile, { maxBytes: spec.logRotateBytes ?? DEFAULT_LOG_ROTATE_BYTES, keep: KEPT_LOG_FILES });
  }

  pid(): number | undefined {
    return this.running ? this.hostPid : undefined;
  }

  state(): ServiceState {
    return this.current;
  }

  isAlive(): boolean {
    return this.running && (this.current === 'starting' || this.current === 'running');
  }

  async settled(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    try {
      if ((await this.container.inspect()).State.Running) return;
    } catch {
      return; // the engine is away or the container gone: the exit watch reports that itself
    }
    await waitAtMost(this.runEnded, timeoutMs);
  }

  restarts(): number {
    return this.budget.restarts();
  }

  stop(o: { graceMs?: number } = {}): Promise<void> {
    this.stopping ??= this.stopContainer(o.graceMs ?? DEFAULT_GRACE_MS);
    return this.stopping;
  }

  stopPostponed(): boolean {
    return this.stopPending;
  }

  async lastOutput(lines = 30): Promise<string[]> {
    return tailLines(this.spec.logFile, lines);
  }

  /** The first start: a failure here is the caller's (nothing to restart yet), and the container is removed again. */
  async firstStart(): Promise<void> {
    this.starting = this.run();
    try {
      await this.starting;
    } catch (error) {
      this.current = 'failed';
      this.log(`${this.name} could not start: ${(error as Error).message}`);
      await this.container.remove({ force: true }).catch(() => undefined);
      throw error;
    }
  }

  /** Attaches to the container's output, starts it, and watches for its exit. */
  private async run(): Promise<void> {
    this.current = 'starting';
    mkdirSync(path.dirname(this.spec.logFile), { recursive: true });
    this.output.rotateIfOver();
    const attempt = this.budget.restarts() > 0 ? ` (restart ${this.budget.restarts()})` : '';
    this.output.write(serviceLogLine(`starting ${this.name}${attempt} from image ${shortImageId(this.spec.imageId)}: ${this.spec.command ?? "the image's own command"}`));
    let outputEnded: Promise<void>;
    let stream: NodeJS.ReadWriteStream | undefined;
    try {
      // Attached before the start, so not a line of its output is missed.
      stream = await this.container.attach({ stream: true, stdout: true, stderr: true });
      const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (this.writeOutput(chunk), done()) });
      this.container.modem.demuxStream(stream, sink, sink);
      const attached = stream;
      outputEnded = new Promise<void>((resolve) => {
        attached.once('end', () => resolve());
        attached.once('close', () => resolve());
        attached.once('error', () => resolve());
      });
      await this.container.start();
      const info = await this.container.inspect();
      this.hostPid = info.State.Pid;
    } catch (error) {
      // Left open, it would copy the output of the next start a second time.
      (stream as { destroy?: () => void } | undefined)?.destroy?.();
      throw engineFailure(`starting the container of ${this.name}`, error);
    }
    this.running = true;
    if (this.current === 'starting') this.current = 'running';
    this.runEnded = this.watchExit(outputEnded);
  }

  /** Waits for the container to stop (a crash, a stop, the engine going away) and handles it once its output is in. */
  private async watchExit(outputEnded: Promise<void>): Promise<void> {
    const exit = await this.waitForExit();
    await waitAtMost(outputEnded, OUTPUT_DRAIN_MS);
    this.running = false;
    this.onExit(exit);
  }

  private async waitForExit(): Promise<ContainerExit> {
    for (;;) {
      const waited = await containerEnded(this.container);
      try {
        const { State } = await this.container.inspect();
        if (this.engineAwaySince !== undefined) {
          this.log(`${this.name}: the Docker engine answers again after ${Date.now() - this.engineAwaySince} ms; its container ${State.Running ? 'still runs' : 'has stopped'}`);
          this.engineAwaySince = undefined;
        }
        if (State.Running && waited !== null) {
          // The wait's connection dropped, not the container: wait again (not in a tight loop if the engine keeps refusing).
          await sleep(WAIT_RETRY_MS);
          continue;
        }
        return { code: State.ExitCode, oomKilled: State.OOMKilled, ...(State.Error ? { error: State.Error } : {}) };
      } catch (error) {
        if (isNotFound(error)) return { code: null, error: 'its container was removed' };
        if (this.watchAbandoned || !isEngineAway(error)) return { code: null, error: `the Docker engine stopped answering: ${engineMessage(error)}` };
        // The engine is away (restarting, its socket gone), not the container: without the engine it runs on
        // and its health check still reaches it, so it is not taken for dead; it is watched again once the engine answers.
        if (this.engineAwaySince === undefined) {
          this.engineAwaySince = Date.now();
          this.log(`${this.name}: the Docker engine does not answer (${engineMessage(error)}); its container is watched again once it does`);
        }
        await sleep(ENGINE_RETRY_MS);
      }
    }
  }

  private onExit(exit: ContainerExit): void {
    this.lastExit = exit;
    const how = exit.oomKilled ? `was killed: out of memory (code ${exit.code ?? '-'})` : exit.code === null ? `is gone: ${exit.error ?? 'unknown'}` : `exited (code ${exit.code}, signal -)`;
    if (this.current === 'stopping') {
      this.log(`${this.name} ${how} after stop`);
      return;
    }
    const verdict = this.budget.afterCrash();
    this.log(`${this.name} ${how}; ${this.budget.describe(verdict)}`);
    const info = { code: exit.code, signal: null, ...(exit.error === undefined ? {} : { error: exit.error }) };
    if (!verdict.restart) {
      this.current = 'failed';
      this.emit('exit', { ...info, willRestart: false } satisfies ServiceExit);
      return;
    }
    this.current = 'backoff';
    this.backoffTimer = setTimeout(() => {
      if (this.current !== 'backoff') return;
      this.budget.recordRestart();
      this.starting = this.run().catch((error: unknown) => {
        if (this.current !== 'stopping') this.onExit({ code: null, error: (error as Error).message });
      });
    }, verdict.delayMs);
    this.emit('exit', { ...info, willRestart: true, restartInMs: verdict.delayMs } satisfies ServiceExit);
  }

  private async stopContainer(graceMs: number): Promise<void> {
    const finalState = this.current === 'failed' ? 'failed' : 'stopped';
    this.current = 'stopping';
    clearTimeout(this.backoffTimer);
    await this.starting.catch(() => undefined);
    this.lastExit = undefined;
    const t = Math.ceil(graceMs / 1000);
    try {
      // The engine sends SIGTERM, waits `t` seconds, then kills: the same as a process's stop.
      await whileEngineAway(() => this.container.stop({ t }));
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 304 && !isNotFound(error)) this.log(`${this.name}: could not stop its container: ${engineMessage(error)}`);
      if (isEngineAway(error)) {
        // Nobody can tell it runs now: stop watching (the stop returns), and stop it once the engine answers again.
        this.watchAbandoned = true;
        this.stopPending = true;
        this.stopWhenEngineAnswers(t);
      }
    }
    await this.runEnded;
    // 137: the engine's kill after the grace time (an out-of-memory kill says so itself).
    const exit = this.lastExit as ContainerExit | undefined; // set by onExit meanwhile
    if (exit?.code === 137 && !exit.oomKilled) this.log(`${this.name} was still running ${graceMs}ms after SIGTERM: killed`);
    this.current = finalState;
  }

  /** A container left running because the engine was away at its stop: stopped in the background once the engine answers (the agent's next start would, too). */
  private stopWhenEngineAnswers(t: number): void {
    const attempt = () => {
      this.container.stop({ t }).then(
        () => {
          this.stopPending = false;
          this.log(`${this.name}: its container, left running while the Docker engine was away, is stopped`);
        },
        (error: unknown) => {
          if (isEngineAway(error)) setTimeout(attempt, 1_000).unref();
          // Stopped meanwhile (304) or gone: nothing runs any more.
          else this.stopPending = false;
        },
      );
    };
    setTimeout(attempt, 1_000).unref();
  }

  private log(text: string): void {
    this.writeOutput(serviceLogLine(text));
  }

  private writeOutput(data: Buffer | string): void {
    try {
      this.output.write(data);
    } catch {
      // the log folder vanished or the disk is full: the service runs on
    }
  }
}

/** The engine's own words for a failed call. */
function engineMessage(error: unknown): string {
  const err = error as { json?: { message?: string }; message?: string };
  return (err.json?.message ?? err.message ?? String(error)).trim();
}

/** Waits for `promise` to settle, or `ms`, whichever comes first. */
async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
