/** Polling until something a test waits for is true. */

export interface WaitOptions {
  /** more to say in the failure message (the output so far, the last answer) */
  explain?: () => string;
  /** how long between two probes (default 50 ms) */
  intervalMs?: number;
}

/** Polls `probe` until it returns true; throws naming `what` once `timeoutMs` has passed. */
export async function waitUntil(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 30_000, o: WaitOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) {
      const more = o.explain?.() ?? '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${more ? `\n${more}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, o.intervalMs ?? 50));
  }
}
