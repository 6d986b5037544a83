/**
 * One upstream port of the proxy: its own connection pool and count of requests in
 * flight, so that a switch can wait for the old target to drain.
 *
 * The pool is undici's, not Node's http.Agent: measured on this 2-core machine, the
 * proxy spent 117 µs of CPU per proxied request through http.request and 66 µs through
 * undici's dispatch (the same server side), and passed 20 % more requests.
 */
import { Pool } from 'undici';

/** One upstream port, with its own connection pool and count of requests in flight. */
export class Target {
  readonly pool: Pool;
  inFlight = 0;
  retired = false;
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    host: string,
    readonly port: number,
    private readonly onIdleWhileRetired: (target: Target) => void,
  ) {
    // No time limits of the pool's own: a long poll or a slow download is the app's business, as it was
    // through Node's client. An idle connection is closed by the proxy after 1 s (or when the app's
    // Keep-Alive header says, less 1 s): before app servers with short keep-alives close it under a
    // request (gunicorn's default is 2 s), which only idempotent requests could be retried after.
    this.pool = new Pool(`http://${host.includes(':') ? `[${host}]` : host}:${port}`, { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 1_000 });
  }

  /** Closes the pool's connections (nothing is in flight when a target is disposed of). */
  dispose(): void {
    this.pool.destroy().catch(() => undefined);
  }

  /** Counts one request in; the returned function counts it out (calling it twice is harmless). */
  acquire(): () => void {
    this.inFlight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight -= 1;
      if (this.inFlight === 0) this.wakeIdleWaiters();
    };
  }

  /** Resolves true when nothing is in flight, false after `timeoutMs` or when the target serves again. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.idleWaiters.delete(wake);
        resolve(this.inFlight === 0 && this.retired);
      };
      const timer = setTimeout(wake, timeoutMs);
      this.idleWaiters.add(wake);
    });
  }

  revive(): void {
    this.retired = false;
    this.wakeIdleWaiters();
  }

  private wakeIdleWaiters(): void {
    for (const wake of [...this.idleWaiters]) wake();
    if (this.retired && this.inFlight === 0) this.onIdleWhileRetired(this);
  }
}
