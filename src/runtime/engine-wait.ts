/**
 * Waiting for a Docker engine that went away (restarting, upgraded, its socket cut): how
 * long, how often, and how a container's end is seen when the engine's own wait cannot be
 * trusted. Used by the container services, one-off commands and slots.
 */
import type { Container } from 'dockerode';
import { connectEngine, type DockerClient } from '../container/engine.js';
import { SlipwayError } from '../errors.js';

/**
 * How long a start, a one-off command or a stop waits for an engine that does not answer: a
 * restarting engine is back within seconds, but one restarted by a package upgrade can take
 * tens of them, and an undo that gives up leaves the old release on data it cannot restart on.
 */
export const ENGINE_WAIT_MS = 30_000;

/** ENGINE_WAIT_MS, or the fault tests' shorter wait (SLIPWAY_TEST_ENGINE_WAIT_MS, with the test hooks armed). */
export function engineWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const override = env.SLIPWAY_TEST_HOOKS === '1' ? Number(env.SLIPWAY_TEST_ENGINE_WAIT_MS ?? NaN) : NaN;
  return Number.isFinite(override) && override >= 0 ? override : ENGINE_WAIT_MS;
}
/** between two calls to an engine that is away */
export const ENGINE_RETRY_MS = 250;

/** True when the call failed because nothing answered on the engine's socket (not because the engine refused it). */
export function isEngineAway(error: unknown): boolean {
  if (error instanceof SlipwayError) return error.code === 'DOCKER_UNREACHABLE';
  const err = error as { statusCode?: number; code?: string; message?: string };
  return err.statusCode === undefined && /ENOENT|ECONNREFUSED|ECONNRESET|EPIPE|socket hang up/.test(`${err.code ?? ''} ${err.message ?? ''}`);
}

/** connectEngine(), tried again while the engine is away, for up to `waitMs`; then its DOCKER_UNREACHABLE. */
export function connectEngineWaiting(waitMs = engineWaitMs()): Promise<DockerClient> {
  return whileEngineAway(() => connectEngine(), waitMs);
}

/** `call` again while the engine is away, for up to `waitMs`. */
export async function whileEngineAway<T>(call: () => Promise<T>, waitMs = engineWaitMs()): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isEngineAway(error) || Date.now() >= deadline) throw error;
      await sleep(ENGINE_RETRY_MS);
    }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** how often a container's state is looked at besides the engine's wait */
const WATCH_POLL_MS = 1_000;

/**
 * Settles once the container is not running: with null, or with the error of the engine call
 * that failed. The engine's wait alone is not enough: its connection, cut while the engine
 * restarts (or by anything between), may never end nor fail, and an exit watched only through it
 * is never seen (a stop then waits for it forever). So the container is also looked at every second.
 */
export function containerEnded(container: Container, pollMs = WATCH_POLL_MS): Promise<unknown> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (value: unknown) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(value);
    };
    // 'not-running': returns at once when it has already exited, so no exit is missed.
    container.wait({ condition: 'not-running' }).then(() => finish(null), finish);
    timer = setInterval(() => {
      container.inspect().then((info) => (info.State.Running ? undefined : finish(null)), finish);
    }, pollMs);
  });
}
