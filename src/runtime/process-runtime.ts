/**
 * The AppRuntime of a host: releases run in two slots (blue, green) behind slipway's proxy, the
 * one before kept warm in standby for a while. Each service of a release runs as a supervised
 * process, or as a Docker container when the release pins it an image (slots.ts decides per
 * service); the author's commands (migrations, hooks) run the way its web service does: in the
 * release folder, or in a one-off container of the web service's image. The update sees neither.
 */
import type { ServiceConfig, StandbyConfig } from '../config/types.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { runAuthorCommand } from '../util/author-command.js';
import { runReleaseCommand } from './container-command.js';
import { watchHealth } from './health-check.js';
import type { MaintenanceMode, ReverseProxy } from './proxy.js';
import type { AuthorCommand, HealthWindowResult, AppRuntime, RunningRelease } from './app-runtime.js';
import { lastRunOutput, otherSlot, primaryService, slotLogFile, startSlot, stopSlot, type ServiceEnvironment, type Slot } from './slots.js';
import { Standby, type StandbyEntry } from './standby.js';
import { tailLines } from './supervisor.js';

export interface ProcessRuntimeOptions {
  proxy: ReverseProxy;
  environmentName: string;
  /** a release's folder on this host */
  releaseDir(releaseId: string): string;
  logsDir: string;
  runDir: string;
  /** which of a release's services this host runs (absent: all) */
  services?: string[];
  drainTimeoutMs: number;
  standby: StandbyConfig;
  /** the environment builder for a release's services: read once per start (the env file may have changed) */
  environmentFor(manifest: ReleaseManifest): Promise<ServiceEnvironment>;
  log(line: string): void;
}

export class ProcessRuntime implements AppRuntime {
  private activeSlot: Slot | null = null;
  private readonly standby: Standby;

  constructor(private readonly options: ProcessRuntimeOptions) {
    this.standby = new Standby({ config: options.standby, stopSlot: (slot) => this.stopGracefully(slot), log: options.log });
  }

  active(): Slot | null {
    return this.activeSlot;
  }

  /** the release in standby, unrouted, with its window */
  standbyEntry(): StandbyEntry | null {
    return this.standby.current();
  }

  inStandby(): Slot | null {
    return this.standby.current()?.slot ?? null;
  }

  async startIdle(releaseId: string, manifest: ReleaseManifest): Promise<Slot> {
    const name = otherSlot(this.activeSlot?.name);
    const serviceEnvironment = await this.options.environmentFor(manifest);
    // The standby holds the idle slot's name (its pid and log files): it goes, and is gone, before another release starts there.
    await this.standby.stopNow(`slot ${name} is needed to start ${manifest.version}`);
    return startSlot({
      name,
      manifest,
      releaseId,
      cwd: this.options.releaseDir(releaseId),
      logsDir: this.options.logsDir,
      runDir: this.options.runDir,
      environmentName: this.options.environmentName,
      serviceEnvironment,
      ...(this.options.services === undefined ? {} : { services: this.options.services }),
    });
  }

  async activate(release: RunningRelease) {
    const result = await this.options.proxy.switchTo(release.port, { drainTimeoutMs: this.options.drainTimeoutMs });
    this.activeSlot = this.own(release);
    return result;
  }

  deactivate(): void {
    this.options.proxy.clearTarget();
    this.activeSlot = null;
  }

  async stop(release: RunningRelease): Promise<string> {
    const line = await this.stopGracefully(this.own(release));
    if (this.activeSlot === release) this.activeSlot = null;
    return line;
  }

  isAlive(release: RunningRelease): boolean {
    return this.own(release).services.every((s) => s.process.isAlive());
  }

  async watchHealth(release: RunningRelease, windowMs: number): Promise<HealthWindowResult> {
    const slot = this.own(release);
    const primary = slot.services.find((s) => s.port === slot.port)!;
    const result = await watchHealth({ url: `http://127.0.0.1:${slot.port}${primary.config.health.path}`, check: primary.config.health, windowMs });
    if (result.ok) return { ok: true };
    const output = await lastRunOutput(primary.process);
    return { ok: false, reason: result.reason, output };
  }

  async takeStandby(releaseId: string): Promise<{ release: Slot; since: Date } | null> {
    const entry = await this.standby.take(releaseId);
    return entry ? { release: entry.slot, since: entry.since } : null;
  }

  retire(release: RunningRelease): Promise<string> {
    return this.standby.retire(this.own(release));
  }

  setMaintenance(mode: MaintenanceMode): void {
    this.options.proxy.setMaintenance(mode);
  }

  maintenance(): MaintenanceMode {
    return this.options.proxy.maintenance();
  }

  writesSettled(timeoutMs: number): Promise<boolean> {
    return this.options.proxy.writesSettled(timeoutMs);
  }

  async runCommand(o: AuthorCommand): Promise<void> {
    const environment = await this.options.environmentFor(o.release.manifest);
    // It runs like the app does: with the web service's own env (NODE_PATH and the like).
    const web: ServiceConfig = primaryService(o.release.manifest.runtime.services);
    const env = environment(web, o.extraEnv);
    if (web.image !== undefined) {
      await runReleaseCommand({ release: o.release, web: { ...web, image: web.image }, releaseDir: this.options.releaseDir(o.release.id), environmentName: this.options.environmentName, command: o.command, env, timeoutMs: o.timeoutMs, onLine: o.onLine });
      return;
    }
    await runAuthorCommand({ command: o.command, cwd: this.options.releaseDir(o.release.id), env, timeoutMs: o.timeoutMs, onLine: o.onLine });
  }

  /** The last lines of the web service's log in the active slot. */
  async logTail(lines: number): Promise<string[]> {
    const active = this.activeSlot;
    if (!active) return [];
    const primary = active.services.find((s) => s.port === active.port)!;
    return tailLines(slotLogFile(this.options.logsDir, primary.config.name, active.name), lines);
  }

  /** Stops the active release and the standby: the agent stops. */
  async close(): Promise<void> {
    const active = this.activeSlot;
    await Promise.allSettled([active ? this.stopGracefully(active) : undefined, this.standby.stopNow('the agent stops')]);
  }

  private stopGracefully(slot: Slot): Promise<string> {
    return stopSlot(slot, this.options.drainTimeoutMs || 1_000);
  }

  /** A release this runtime started: every RunningRelease it hands out is one of its slots. */
  private own(release: RunningRelease): Slot {
    return release as Slot;
  }
}
