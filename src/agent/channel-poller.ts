/**
 * Pull mode: the agent watches its environment's channel pointer in the store
 * and applies the release it names. An unchanged pointer costs one conditional
 * request per poll. A release that failed on this host is not retried until the
 * pointer names another release, so a bad release cannot loop deployments.
 */
import { promises as fs } from 'node:fs';
import { readChannelIfChanged, type ChannelPointer } from '../store/channels.js';
import type { BlobStore } from '../store/blob-store.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface ApplyResult {
  ok: boolean;
  error?: string;
  /** the failure was not the release's fault (e.g. the host was locked): try again at the next poll */
  retry?: boolean;
}

export interface FailedRelease {
  id: string;
  version: string | null;
  error: string;
  at: string;
}

export interface ChannelPollerOptions {
  store: BlobStore;
  app: string;
  env: string;
  intervalMs: number;
  /** each wait is intervalMs plus a random 0…jitterMs, so a fleet does not poll in step */
  jitterMs: number;
  /** applies the release the pointer names; never called twice at once */
  onChange(pointer: ChannelPointer): Promise<ApplyResult>;
  /** the release the host serves now, so that a restarted agent does not redeploy it (default: the last one this poller applied) */
  currentReleaseId?(): string | null | Promise<string | null>;
  /** a small JSON file that remembers a failed release across restarts */
  stateFile?: string;
  /** delay before the first poll (default 0: at once) */
  initialDelayMs?: number;
  /**
   * Refuses a pointer this host must not act on (another environment, unsigned or badly
   * signed, a counter lower than the last accepted, expired) by throwing; the message goes
   * to the log once and stays in the state's lastError and refusedPointer until a pointer
   * is accepted. Nothing is applied meanwhile.
   */
  checkPointer?(pointer: ChannelPointer, lastAcceptedCounter: number | null): void | Promise<void>;
  /** the counter of the last pointer accepted, kept across restarts (e.g. in the host ledger) */
  acceptedCounter?: { get(): number | null; set(counter: number): void };
  /** called whenever the remembered failed release is set or forgotten (e.g. to report it at once) */
  onFailureChange?(failed: FailedRelease | null): void;
  log(line: string): void;
}

export interface ChannelPollerState {
  lastPointer: ChannelPointer | null;
  lastPollAt: string | null;
  lastError: string | null;
  polls: number;
  /** polls answered "not modified" */
  unchanged: number;
  failedRelease: FailedRelease | null;
  applying: boolean;
  /** why the pointer in the store was refused (null when the last one read was accepted) */
  refusedPointer: string | null;
}

export interface ChannelPoller {
  /** polls now (after the poll in progress, if any) and resolves when done */
  checkNow(): Promise<void>;
  /** stops polling; waits for the poll (and deployment) in progress */
  stop(): Promise<void>;
  /** treats a release as failed here (e.g. an operator rolled back from it): not applied again until the pointer moves */
  rememberFailure(release: { id: string; version?: string | null }, error: string): Promise<void>;
  state(): ChannelPollerState;
}

export function startChannelPoller(options: ChannelPollerOptions): ChannelPoller {
  let etag: string | null = null;
  let lastPointer: ChannelPointer | null = null;
  let lastApplied: string | null = null;
  let failed: FailedRelease | null = null;
  let retryPending = false;
  let lastError: string | null = null;
  let lastPollAt: string | null = null;
  let polls = 0;
  let unchanged = 0;
  let applying = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  let skippedLogged: string | null = null;
  let refused: string | null = null;

  const loaded = loadFailure(options.stateFile).then((value) => {
    failed = value;
    if (value) options.onFailureChange?.(value);
  });

  async function saveFailure(): Promise<void> {
    options.onFailureChange?.(failed);
    if (!options.stateFile) return;
    try {
      await writeFileAtomic(options.stateFile, `${JSON.stringify({ failedRelease: failed }, null, 2)}\n`, 0o600);
    } catch (error) {
      options.log(`warning: cannot save the pull state to ${options.stateFile}: ${(error as Error).message}`);
    }
  }

  async function poll(): Promise<void> {
    await loaded;
    polls += 1;
    lastPollAt = new Date().toISOString();
    let read;
    try {
      read = await readChannelIfChanged(options.store, options.app, options.env, etag);
      if (lastError !== null && lastError !== refused) options.log(`channel ${options.env}: the store answers again`);
      // A refused pointer stays the error until a pointer is accepted.
      lastError = refused;
    } catch (error) {
      const message = (error as Error).message;
      // One line per distinct problem, not one per poll.
      if (message !== lastError) options.log(`channel ${options.env}: cannot read the pointer: ${message}`);
      lastError = message;
      return;
    }
    if (!read.changed) {
      unchanged += 1;
      if (!retryPending) return;
    } else {
      etag = read.etag;
      if (read.pointer) {
        try {
          await options.checkPointer?.(read.pointer, options.acceptedCounter?.get() ?? null);
        } catch (error) {
          const message = `refused the channel pointer: ${(error as Error).message}`;
          if (message !== refused) options.log(`channel ${options.env}: ${message}; nothing applied`);
          refused = message;
          lastError = message;
          retryPending = false;
          return;
        }
        if (refused !== null) options.log(`channel ${options.env}: the pointer is acceptable again (${read.pointer.version})`);
        refused = null;
        lastError = null;
        const counter = read.pointer.counter;
        if (counter !== undefined && options.acceptedCounter && counter > (options.acceptedCounter.get() ?? 0)) options.acceptedCounter.set(counter);
      }
      lastPointer = read.pointer;
    }
    retryPending = false;
    const pointer = lastPointer;
    if (!pointer) return;

    if (failed && failed.id !== pointer.releaseId) {
      options.log(`channel ${options.env} moved to ${pointer.version}: forgetting the failure of ${failed.version ?? failed.id.slice(0, 12)}`);
      failed = null;
      skippedLogged = null;
      await saveFailure();
    }
    const current = options.currentReleaseId ? await options.currentReleaseId() : lastApplied;
    if (current === pointer.releaseId) {
      lastApplied = current;
      // Someone got it running here after all (e.g. a manual deploy): the failure no longer matters.
      if (failed) {
        failed = null;
        skippedLogged = null;
        await saveFailure();
      }
      return;
    }
    if (failed) {
      if (skippedLogged !== failed.id) options.log(`channel ${options.env} names ${pointer.version}, which failed on this host at ${failed.at}; waiting for the channel to move`);
      skippedLogged = failed.id;
      return;
    }

    options.log(`channel ${options.env} names ${pointer.version} (${pointer.releaseId.slice(0, 12)}, set by ${pointer.who}: ${pointer.why}): applying it`);
    applying = true;
    let result: ApplyResult;
    try {
      result = await options.onChange(pointer);
    } catch (error) {
      result = { ok: false, error: (error as Error).message };
    } finally {
      applying = false;
    }
    if (result.ok) {
      lastApplied = pointer.releaseId;
      return;
    }
    if (result.retry) {
      options.log(`channel ${options.env}: ${pointer.version} not applied (${result.error ?? 'unknown reason'}); trying again at the next poll`);
      retryPending = true;
      return;
    }
    failed = { id: pointer.releaseId, version: pointer.version, error: result.error ?? 'unknown error', at: new Date().toISOString() };
    skippedLogged = pointer.releaseId;
    options.log(`channel ${options.env}: ${pointer.version} failed on this host (${failed.error}); it will not be retried until the channel moves`);
    await saveFailure();
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      void checkNow();
    }, delayMs);
    // The agent's servers keep the process alive; a pending poll alone should not.
    timer.unref();
  }

  function nextDelay(): number {
    return options.intervalMs + Math.floor(Math.random() * (options.jitterMs + 1));
  }

  function checkNow(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (!running) {
      clearTimeout(timer);
      running = poll()
        .catch((error) => options.log(`channel ${options.env}: poll failed: ${(error as Error).message}`))
        .finally(() => {
          running = null;
          schedule(nextDelay());
        });
      return running;
    }
    // Never two polls (or deployments) at once: one more poll after the current one, shared by every caller.
    queued ??= running.then(() => {
      queued = null;
      return checkNow();
    });
    return queued;
  }

  schedule(options.initialDelayMs ?? 0);

  return {
    checkNow,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await queued;
      await running;
    },
    async rememberFailure(release, error) {
      await loaded;
      failed = { id: release.id, version: release.version ?? null, error, at: new Date().toISOString() };
      skippedLogged = release.id;
      await saveFailure();
    },
    state: () => ({ lastPointer, lastPollAt, lastError, polls, unchanged, failedRelease: failed, applying, refusedPointer: refused }),
  };
}

async function loadFailure(stateFile: string | undefined): Promise<FailedRelease | null> {
  if (!stateFile) return null;
  try {
    const saved = JSON.parse(await fs.readFile(stateFile, 'utf8')) as { failedRelease?: FailedRelease | null };
    const value = saved.failedRelease;
    return value && typeof value.id === 'string' && typeof value.error === 'string' ? value : null;
  } catch {
    // Missing or unreadable: start clean (at worst a failed release is tried once more).
    return null;
  }
}
