/**
 * Logs at a bounded rate: at most `lines` lines per window; past that, lines are
 * counted, and one line at the end of the window says how many were left out. A
 * stranger flooding the agent with bad requests cannot flood its log or its disk.
 */
export interface LimitedLog {
  (line: string): void;
  /** writes the summary of the current window now (at shutdown) */
  flush(): void;
}

export function createLogLimiter(o: { log(line: string): void; lines: number; windowMs: number; what: string; now?: () => number }): LimitedLog {
  const now = o.now ?? Date.now;
  let windowStart = now();
  let logged = 0;
  let left = 0;
  let timer: NodeJS.Timeout | undefined;
  const span = o.windowMs === 60_000 ? 'the last minute' : `the last ${o.windowMs >= 1000 ? `${Math.round(o.windowMs / 1000)} s` : `${o.windowMs} ms`}`;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (left > 0) o.log(`… ${left} more ${o.what} in ${span} (not logged one by one)`);
    left = 0;
    logged = 0;
    windowStart = now();
  };

  const limited = (line: string) => {
    if (now() - windowStart >= o.windowMs) flush();
    if (logged < o.lines) {
      logged += 1;
      o.log(line);
      return;
    }
    left += 1;
    // The summary comes at the window's end even if nothing else arrives.
    if (!timer) {
      timer = setTimeout(flush, Math.max(0, windowStart + o.windowMs - now()));
      timer.unref();
    }
  };
  limited.flush = flush;
  return limited;
}
