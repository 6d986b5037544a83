/**
 * The proxy's maintenance gate: in `refuse` mode requests get 503, in `hold` mode they
 * wait (at most holdMs) until maintenance is off; with writesOnly, reads pass.
 */
import { RETRYABLE_METHODS } from './proxy-http.js';

export type MaintenanceMode =
  | { mode: 'off' }
  /** answer 503 with Retry-After (default 30 s) */
  | { mode: 'refuse'; retryAfterSeconds?: number; writesOnly?: boolean }
  /** keep each request waiting until maintenance is off, at most holdMs; then forward it anyway */
  | {
      mode: 'hold';
      holdMs: number;
      /** reads (GET, HEAD, OPTIONS) pass; only writes wait */
      writesOnly?: boolean;
      /** what a request that waited holdMs gets: forwarded (default), or 503 so that it cannot land on data about to be replaced */
      afterHold?: 'forward' | 'refuse';
    };

const DEFAULT_RETRY_AFTER_SECONDS = 30;

/** One request at the gate, plain or upgrade: how to tell it is gone, and what to do with it. */
export interface GateRequest {
  method: string;
  arrivedAt: number;
  /** registers a listener for the client going away; returns its removal */
  onGone: (listener: () => void) => () => void;
  isGone: () => boolean;
  proceed: () => void;
  refuse: (retryAfterSeconds: number) => void;
}

export class MaintenanceGate {
  private mode: MaintenanceMode = { mode: 'off' };
  private readonly listeners = new Set<() => void>();
  /** requests waiting for maintenance to end */
  held = 0;
  /** writes let through to the app whose answer has not gone back yet */
  private writesInFlight = 0;
  private readonly settledWaiters = new Set<() => void>();

  /**
   * Resolves once every write let through before now has been answered (true), or after
   * timeoutMs (false). Holding writes stops new ones only: one already at the app may commit
   * after a backup's snapshot starts, and would be lost if that backup were restored.
   */
  writesSettled(timeoutMs: number): Promise<boolean> {
    if (this.writesInFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.settledWaiters.delete(onSettled);
        resolve(ok);
      };
      const onSettled = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.settledWaiters.add(onSettled);
    });
  }

  /** Lets a request through; a write is counted until its client has its answer (or is gone). */
  private proceed(o: GateRequest): void {
    if (!RETRYABLE_METHODS.has(o.method)) {
      this.writesInFlight += 1;
      let counted = true;
      o.onGone(() => {
        if (!counted) return;
        counted = false;
        this.writesInFlight -= 1;
        if (this.writesInFlight === 0) for (const waiter of [...this.settledWaiters]) waiter();
      });
    }
    o.proceed();
  }

  set(m: MaintenanceMode): void {
    this.mode = { ...m };
    for (const listener of [...this.listeners]) listener();
  }

  get(): MaintenanceMode {
    return { ...this.mode };
  }

  /** Applies the maintenance mode to one request, re-checking whenever the mode changes while it is held. */
  pass(o: GateRequest): void {
    if (o.isGone()) return;
    const m = this.mode;
    if (m.mode !== 'off' && m.writesOnly && RETRYABLE_METHODS.has(o.method)) return this.proceed(o);
    if (m.mode === 'refuse') return o.refuse(m.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
    // Timers may fire a fraction of a millisecond early: under 1 ms left counts as elapsed.
    const waitMs = m.mode === 'hold' ? Math.ceil(o.arrivedAt + m.holdMs - performance.now()) : 0;
    if (waitMs < 1) return m.mode === 'hold' && m.afterHold === 'refuse' ? o.refuse(DEFAULT_RETRY_AFTER_SECONDS) : this.proceed(o);

    this.held += 1;
    let settled = false;
    const settle = (again: boolean) => {
      if (settled) return;
      settled = true;
      this.held -= 1;
      clearTimeout(timer);
      this.listeners.delete(onChange);
      stopWatchingClient();
      if (again) this.pass(o);
    };
    const onChange = () => settle(true);
    const timer = setTimeout(onChange, waitMs);
    this.listeners.add(onChange);
    const stopWatchingClient = o.onGone(() => settle(false));
  }
}
