/**
 * The seam between the update and what runs the app. The update pipeline starts,
 * health-checks, switches, drains and stops a release only through this interface;
 * it never sees a process or a container. The process supervisor (process-runtime.ts)
 * is the first implementation; a container runtime plugs in here with no change to
 * the update's steps.
 */
import type { ReleaseManifest } from '../release/manifest.js';
import type { MaintenanceMode, SwitchResult } from './proxy.js';

export type SlotName = 'blue' | 'green';

/** One release running on this host: its services started and healthy, in one of two slots. */
export interface RunningRelease {
  readonly name: SlotName;
  readonly releaseId: string;
  readonly version: string;
  /**
   * The release's manifest, verified against its id when it started. Kept so that an update
   * from or back to a running release does not read and check every file's entry again (a
   * large app's manifest lists tens of thousands: reading one costs more than a warm rollback).
   */
  readonly manifest: ReleaseManifest;
  /** the loopback port the proxy sends traffic to */
  readonly port: number;
  readonly startedAt: string;
}

/** A health window's verdict; a failure carries the last output of the service that failed. */
export type HealthWindowResult = { ok: true } | { ok: false; reason: string; output: string[] };

export interface AuthorCommand {
  /** the release the command runs from (its folder, its web service's environment) */
  release: { id: string; manifest: ReleaseManifest };
  command: string;
  /** slipway's variables for the command (SLIPWAY_ENV, SLIPWAY_HOOK…) */
  extraEnv: Record<string, string>;
  timeoutMs: number;
  /** each line of its output, whole */
  onLine(line: string): void;
}

/** What the update uses to run releases. */
export interface AppRuntime {
  /** the release the proxy routes to, or null */
  active(): RunningRelease | null;
  /** starts the release in the idle slot and waits until every service is healthy; a failure leaves nothing running */
  startIdle(releaseId: string, manifest: ReleaseManifest): Promise<RunningRelease>;
  /** points the proxy at the release (atomic for new requests) and drains the one before */
  activate(release: RunningRelease): Promise<SwitchResult>;
  /** stops routing to any release (the proxy answers 503): only when no release served before */
  deactivate(): void;
  /** one line saying how it went: "stopped v1", or which services still run until their engine answers */
  stop(release: RunningRelease): Promise<string>;
  /** every service of the release still runs */
  isAlive(release: RunningRelease): boolean;
  /** watches the release's health for a window after the switch */
  watchHealth(release: RunningRelease, windowMs: number): Promise<HealthWindowResult>;
  /** the release kept warm in standby, if any (unrouted) */
  inStandby(): RunningRelease | null;
  /** the release kept warm in standby, handed over when it still answers its health check; null: start it cold */
  takeStandby(releaseId: string): Promise<{ release: RunningRelease; since: Date } | null>;
  /** the release that served before, once the update is done: kept warm in standby or stopped; one line saying which and why */
  retire(release: RunningRelease): Promise<string>;
  setMaintenance(mode: MaintenanceMode): void;
  maintenance(): MaintenanceMode;
  /** once writes are held: resolves when every write already let through has been answered (true), or after timeoutMs (false) */
  writesSettled(timeoutMs: number): Promise<boolean>;
  /** runs an author's command (migration, hook) as the release's web service runs: its folder, its environment */
  runCommand(o: AuthorCommand): Promise<void>;
}
