/**
 * One upstream port of the proxy: its own connection pool and count of requests in
 * flight, so that a switch can wait for the old target to drain.
 */
import http from 'node:http';

/** One upstream port, with its own connection pool and count of requests in flight. */
export class Target {
  readonly agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
  inFlight = 0;
  retired = false;
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    readonly port: number,
    private readonly onIdleWhileRetired: (target: Target) => void,
  ) {}

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
