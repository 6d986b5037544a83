import http from 'node:http';
import { SlipwayError } from '../errors.js';
import type { HealthCheckConfig } from '../config/types.js';

export interface ProbeResult {
  /** true for a 2xx answer */
  ok: boolean;
  status?: number;
  /** why no answer came (connection refused, timeout…) */
  error?: string;
  ms: number;
}

/**
 * One GET of `url`. Never throws: every failure is described in the result. Only the status
 * counts: the connection is closed as soon as it arrived, so a body that never ends (a
 * stream, a hung handler) costs neither a socket nor memory.
 */
export function probeHealth(url: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (result: Omit<ProbeResult, 'ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, ms: elapsed() });
    };
    let request: http.ClientRequest;
    try {
      // A fresh connection per probe: a pooled socket could hide that the service stopped accepting connections.
      request = http.get(url, { agent: false, headers: { 'user-agent': 'slipway-health-check', connection: 'close' } }, (response) => {
        const status = response.statusCode ?? 0;
        response.on('error', () => undefined);
        settle({ ok: status >= 200 && status < 300, status });
        // The body is not read: closing the socket ends it, however long the service meant it to be.
        request.destroy();
      });
    } catch (error) {
      settle({ ok: false, error: describeError(error) });
      return;
    }
    timer = setTimeout(() => {
      settle({ ok: false, error: `no answer within ${timeoutMs}ms` });
      request.destroy();
    }, timeoutMs);
    // `on`, not `once`: destroying the request after the answer may report an error too.
    request.on('error', (error) => settle({ ok: false, error: describeError(error) }));
  });
}

export interface WaitUntilHealthyOptions {
  url: string;
  check: HealthCheckConfig;
  signal?: AbortSignal;
  /** e.g. "the service process is still running"; when it turns false, waiting stops at once */
  isAlive?: () => boolean;
}

/**
 * Probes every `check.intervalMs` until `check.successes` consecutive 2xx answers.
 * Throws HEALTH_CHECK_FAILED after `check.deadlineMs` (overrun by at most one probe's timeout), SERVICE_EXITED as soon as `isAlive()` is false,
 * HEALTH_CHECK_ABORTED when `signal` aborts.
 */
export async function waitUntilHealthy(o: WaitUntilHealthyOptions): Promise<{ attempts: number; ms: number }> {
  const { check } = o;
  const started = performance.now();
  const deadline = started + check.deadlineMs;
  const target = describeTarget(o.url);
  let attempts = 0;
  let consecutive = 0;
  let last: ProbeResult | undefined;

  const assertAlive = () => {
    if (o.isAlive && !o.isAlive()) {
      throw new SlipwayError('SERVICE_EXITED', `The service exited while slipway waited for ${target} to answer (after ${attempts} health probe${attempts === 1 ? '' : 's'}).`, {
        hint: "Read the service's log for the reason it stopped; run its command by hand in the release folder to reproduce.",
      });
    }
  };

  for (;;) {
    throwIfAborted(o.signal, target);
    assertAlive();
    // Not clipped to the deadline: a probe cut short would report a made-up timeout instead of the real answer.
    last = await probeHealth(o.url, check.timeoutMs);
    attempts += 1;
    consecutive = last.ok ? consecutive + 1 : 0;
    if (consecutive >= Math.max(1, check.successes)) return { attempts, ms: Math.round(performance.now() - started) };
    throwIfAborted(o.signal, target);
    assertAlive();
    if (performance.now() >= deadline) {
      throw new SlipwayError(
        'HEALTH_CHECK_FAILED',
        `${target} did not pass its health check within ${formatMs(check.deadlineMs)}: last ${describeProbe(last)}, after ${attempts} attempt${attempts === 1 ? '' : 's'}.`,
        {
          hint: `Make GET ${new URL(o.url).pathname} answer 2xx once the service is ready, or raise the health check's deadline in slipway.yml.`,
          details: [`needed ${check.successes} consecutive 2xx answers`],
        },
      );
    }
    await pause({ ms: Math.min(check.intervalMs, Math.max(0, deadline - performance.now())), signal: o.signal, isAlive: o.isAlive });
  }
}

export interface WatchHealthOptions {
  url: string;
  check: HealthCheckConfig;
  /** how long to watch */
  windowMs: number;
  signal?: AbortSignal;
}

/**
 * The health window after a switch: probes every `check.intervalMs` for `windowMs`.
 * Fails on max(2, check.successes) consecutive failed probes, so one lost probe is not a rollback.
 * Throws HEALTH_CHECK_ABORTED when `signal` aborts.
 */
/**
 * A service without an HTTP check (`health: false`, a worker): healthy once it has kept running for
 * `successes` × `interval` without exiting or restarting.
 */
export async function waitUntilRunning(o: { check: HealthCheckConfig; isAlive: () => boolean; signal?: AbortSignal }): Promise<{ ms: number }> {
  const started = performance.now();
  const needed = Math.max(1, o.check.successes) * o.check.intervalMs;
  for (;;) {
    throwIfAborted(o.signal, 'the service');
    if (!o.isAlive()) {
      throw new SlipwayError('SERVICE_EXITED', `The service exited ${Math.round(performance.now() - started)} ms after it started (it has no HTTP check: it must keep running for ${needed} ms).`, {
        hint: "Read the service's log for the reason it stopped; run its command by hand in the release folder to reproduce.",
      });
    }
    const ran = performance.now() - started;
    if (ran >= needed) return { ms: Math.round(ran) };
    await pause({ ms: Math.min(o.check.intervalMs, needed - ran), ...(o.signal ? { signal: o.signal } : {}) });
  }
}

export async function watchHealth(o: WatchHealthOptions): Promise<{ ok: true } | { ok: false; reason: string }> {
  const target = describeTarget(o.url);
  const allowedFailures = Math.max(2, o.check.successes);
  const end = performance.now() + o.windowMs;
  let failures = 0;
  for (;;) {
    throwIfAborted(o.signal, target);
    const probe = await probeHealth(o.url, o.check.timeoutMs);
    failures = probe.ok ? 0 : failures + 1;
    if (failures >= allowedFailures) {
      return { ok: false, reason: `${target} failed ${failures} consecutive health probes: last ${describeProbe(probe)}` };
    }
    const remaining = end - performance.now();
    if (remaining <= 0) return { ok: true };
    await pause({ ms: Math.min(o.check.intervalMs, remaining), signal: o.signal });
  }
}

function describeTarget(url: string): string {
  const parsed = new URL(url);
  return `GET ${parsed.pathname}${parsed.search} on port ${parsed.port || '80'}`;
}

function describeProbe(probe: ProbeResult | undefined): string {
  if (!probe) return 'no probe ran';
  if (probe.status !== undefined) return `answer HTTP ${probe.status}`;
  return `error: ${probe.error ?? 'unknown'}`;
}

function describeError(error: unknown): string {
  if (error && typeof error === 'object') {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code === 'string') return code === 'ECONNRESET' ? 'connection reset' : code;
    if (typeof message === 'string') return message;
  }
  return String(error);
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function throwIfAborted(signal: AbortSignal | undefined, target: string): void {
  if (signal?.aborted) {
    throw new SlipwayError('HEALTH_CHECK_ABORTED', `Stopped waiting for ${target}: the operation was cancelled.`, { cause: signal.reason });
  }
}

/** Sleeps `ms`, waking early when `signal` aborts or `isAlive()` turns false (checked often, so an exit is seen at once). */
function pause(o: { ms: number; signal?: AbortSignal; isAlive?: () => boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      clearInterval(aliveCheck);
      o.signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, o.ms);
    const aliveCheck = o.isAlive ? setInterval(() => o.isAlive && !o.isAlive() && done(), 20) : undefined;
    o.signal?.addEventListener('abort', done, { once: true });
  });
}
