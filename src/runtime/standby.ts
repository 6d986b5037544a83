/**
 * Warm standby (DESIGN.md step 8): after a switch the release that served before keeps
 * running, unrouted, for a window, so that a code rollback inside it is a proxy switch
 * instead of a cold start. Outside the window, or when the host is short of memory,
 * the old slot is stopped as before.
 *
 * The agent owns one Standby. It never routes traffic: it only keeps a slot alive,
 * hands it back to an update that rolls back to its release, and stops it when the
 * window ends, memory runs short, another release needs its slot name, or the agent stops.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { probeHealth } from './health-check.js';
import type { StandbyConfig } from '../config/types.js';
import type { Slot } from './slots.js';

/** How often the memory is looked at again while a slot is in standby: it should give way when the host needs the memory. */
const MEMORY_RECHECK_MS = 15_000;

const MAX_TIMER_MS = 2 ** 31 - 1;

/** The memory the kernel says can be given to new work without swapping: MemAvailable, else os.freemem() (which counts no reclaimable cache). */
export function availableMemoryBytes(): number {
  try {
    const match = /^MemAvailable:\s+(\d+)\s*kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux: fall back below
  }
  return os.freemem();
}

export type StandbyDecision = { keep: true; windowMs: number } | { keep: false; reason: string };

/** Whether the old slot stays warm, and if not, why (shown in the deploy output and its history). */
export function decideStandby(config: StandbyConfig, availableBytes: number): StandbyDecision {
  if (config.windowMs <= 0) return { keep: false, reason: 'standby is off' };
  if (availableBytes < config.minAvailableBytes) {
    return { keep: false, reason: `only ${mib(availableBytes)} of memory available, standby needs ${mib(config.minAvailableBytes)}` };
  }
  return { keep: true, windowMs: config.windowMs };
}

export interface StandbyEntry {
  slot: Slot;
  /** when the window ends */
  until: Date;
  /** when it stopped serving (the switch away from it) */
  since: Date;
}

export interface StandbyOptions {
  config: StandbyConfig;
  /** stops a slot's processes (SIGTERM to each group, SIGKILL after the grace time); one line saying how it went */
  stopSlot(slot: Slot): Promise<string>;
  log(line: string): void;
  /** the memory available now (a test seam; default availableMemoryBytes) */
  availableMemory?(): number;
  /** how often memory is looked at during the window (a test seam; default 15 s) */
  memoryRecheckMs?: number;
}

export class Standby {
  private entry: StandbyEntry | null = null;
  private expiry: NodeJS.Timeout | undefined;
  private memoryCheck: NodeJS.Timeout | undefined;
  /** stops in progress: a slot name is reused only once its old processes (and pid files) are gone */
  private readonly stopping = new Set<Promise<string>>();

  constructor(private readonly options: StandbyOptions) {}

  current(): StandbyEntry | null {
    return this.entry;
  }

  /**
   * The slot that just stopped serving: kept warm for the window, or stopped now. Says which, and
   * why not when it is stopped, in one line for the update's output.
   */
  async retire(slot: Slot): Promise<string> {
    // Only one slot waits in standby: a second would hold a third release's worth of memory.
    await this.stopNow('another release took its place');
    if (!slot.services.every((s) => s.process.isAlive())) {
      return `${await this.stopAndWait(slot)} (it was no longer running cleanly, so not kept in standby)`;
    }
    const decision = decideStandby(this.options.config, this.memory());
    if (!decision.keep) {
      return `${await this.stopAndWait(slot)} (not kept warm: ${decision.reason})`;
    }
    const now = new Date();
    this.entry = { slot, since: now, until: new Date(now.getTime() + decision.windowMs) };
    this.armExpiry(this.entry, `its standby window of ${formatWindow(decision.windowMs)} ended`);
    this.memoryCheck = setInterval(() => {
      const check = decideStandby(this.options.config, this.memory());
      if (!check.keep) void this.stopNow(check.reason);
    }, this.options.memoryRecheckMs ?? MEMORY_RECHECK_MS);
    this.memoryCheck.unref();
    return `${slot.version} kept warm in standby (slot ${slot.name}, unrouted) for ${formatWindow(decision.windowMs)}, until ${this.entry.until.toISOString()}`;
  }

  /**
   * Hands the standby slot over when it runs `releaseId` and still answers its health check
   * (one probe: it passed its health window when it first served, and has run since). Null
   * otherwise; a slot that stopped answering is stopped, so the caller can start its release cold.
   */
  async take(releaseId: string): Promise<StandbyEntry | null> {
    const entry = this.entry;
    if (!entry || entry.slot.releaseId !== releaseId) return null;
    this.clear();
    const { slot } = entry;
    const primary = slot.services.find((s) => s.port === slot.port)!;
    const alive = slot.services.every((s) => s.process.isAlive());
    const probe = alive ? await probeHealth(`http://127.0.0.1:${slot.port}${primary.config.health.path}`, primary.config.health.timeoutMs) : null;
    if (probe?.ok) return entry;
    this.options.log(`standby: ${slot.version} in slot ${slot.name} ${probe ? `failed its health check (${probe.error ?? `HTTP ${probe.status}`})` : 'is no longer running'}: stopped, it starts cold`);
    await this.stopAndWait(slot);
    return null;
  }

  /** Stops the slot in standby, if any, and waits for every stop in progress: its slot name is free afterwards. */
  async stopNow(reason: string): Promise<void> {
    const entry = this.entry;
    if (entry) {
      this.clear();
      this.options.log(`standby: stopping ${entry.slot.version} in slot ${entry.slot.name}: ${reason}`);
      void this.stopAndWait(entry.slot);
    }
    await this.settled();
  }

  /** Resolves once no standby slot is being stopped. */
  async settled(): Promise<void> {
    while (this.stopping.size > 0) await Promise.allSettled([...this.stopping]);
  }

  private stopAndWait(slot: Slot): Promise<string> {
    // Never rejects (stopSlot settles every service): callers may leave it running in the background.
    const stop: Promise<string> = this.options
      .stopSlot(slot)
      .catch((error: unknown) => `could not stop ${slot.version}: ${(error as Error).message}`)
      .finally(() => this.stopping.delete(stop));
    this.stopping.add(stop);
    return stop;
  }

  /** Node fires a timer of more than 2^31-1 ms (24.8 days) at once: a longer window is waited for in steps. */
  private armExpiry(entry: StandbyEntry, reason: string): void {
    const left = entry.until.getTime() - Date.now();
    this.expiry = setTimeout(() => {
      if (this.entry !== entry) return;
      if (entry.until.getTime() > Date.now()) this.armExpiry(entry, reason);
      else void this.stopNow(reason);
    }, Math.max(0, Math.min(left, MAX_TIMER_MS)));
    this.expiry.unref();
  }

  private clear(): void {
    clearTimeout(this.expiry);
    clearInterval(this.memoryCheck);
    this.expiry = undefined;
    this.memoryCheck = undefined;
    this.entry = null;
  }

  private memory(): number {
    return (this.options.availableMemory ?? availableMemoryBytes)();
  }
}

function mib(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}

function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
