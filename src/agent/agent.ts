import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { isDiskFull } from '../util/disk-full.js';
import { hostDiskFullError } from '../host/disk-reserve.js';
import { DEFAULT_STANDBY, type EnvironmentConfig, type LoadedProject } from '../config/types.js';
import { shortId, type ReleaseManifest } from '../release/manifest.js';
import { createProxy, type MaintenanceMode, type ReverseProxy } from '../runtime/proxy.js';
import { probeHealth } from '../runtime/health-check.js';
import { killStaleProcesses } from '../runtime/supervisor.js';
import { openStore } from '../store/open-store.js';
import type { BlobStore } from '../store/blob-store.js';
import { ensureHostLayout, type HostLayout } from '../host/layout.js';
import { openLedger, type Ledger } from '../host/ledger.js';
import { openJournal, type Journal } from '../host/journal.js';
import { acquireLock, readLock, releaseLock } from '../host/lock.js';
import { readCurrent } from '../host/current-link.js';
import { readInstalledManifest, releaseNotFoundOnHost, type SignaturePolicy } from '../host/install-release.js';
import { releaseDir } from '../host/layout.js';
import { readEnvFile, resolveAppConfig, serviceEnvironment } from '../host/app-env.js';
import { recoverUnfinishedUpdate, type RecoveryReport } from '../update/recovery.js';
import { pruneReleases } from '../host/prune.js';
import type { UpdateHost } from '../update/context.js';
import type { Slot } from '../runtime/slots.js';
import { ProcessRuntime } from '../runtime/process-runtime.js';
import { runUpdate, type UpdateEvent, type UpdateOutcome, type UpdateRequest } from '../update/run-update.js';
import { faultsFromEnvironment } from '../update/test-faults.js';
import { startControlServer } from './control-server.js';
import { toWireError } from './wire.js';
import { HostBackups } from './host-backups.js';
import { startRemoteControl, type AgentFacade, type RemoteControl } from './remote-control.js';
import { rollbackWithDataTarget, restoreTarget } from './data-requests.js';
import { pruneBackups } from '../data/index.js';
import { createOffsiteCopier, fetchOffsiteBackup, offsiteEnabled, type OffsiteCopier } from '../data/offsite.js';
import { startBackupSchedule, type BackupSchedule } from './backup-schedule.js';

export interface AgentOptions {
  project: LoadedProject;
  environment: EnvironmentConfig;
  layout: HostLayout;
  processEnv?: NodeJS.ProcessEnv;
  /** where the agent's own lines go (the foreground `slipway agent` prints them) */
  log?(line: string): void;
  /** `slipway agent --stop` asked this agent to stop */
  onStopRequested?(): void;
}

export type { UpdateRequest };

/**
 * The single writer of a host's state: supervises the release slots, owns the
 * proxy on the public port, runs updates one at a time and answers the CLI.
 */
export class Agent {
  private readonly options: AgentOptions;
  private readonly layout: HostLayout;
  private readonly env: EnvironmentConfig;
  private readonly processEnv: NodeJS.ProcessEnv;
  private ledger!: Ledger;
  private journal!: Journal;
  private store!: BlobStore;
  private proxy!: ReverseProxy;
  private control?: { close(): Promise<void> };
  private remote?: RemoteControl;
  /** backup_schedule: the agent's own backups */
  private schedule?: BackupSchedule;
  /** off-site copies (null: off for this environment); one pass at a time */
  private offsite: OffsiteCopier | null = null;
  /** runs the releases: two slots behind the proxy, the one before kept warm in standby */
  private runtime!: ProcessRuntime;
  private readonly startedAt = new Date();
  private readonly backups: HostBackups;
  private closing?: Promise<void>;
  /** updates in progress, so that close() waits for them */
  private readonly running = new Set<Promise<unknown>>();
  lastRecovery: RecoveryReport | null = null;

  constructor(options: AgentOptions) {
    this.options = options;
    this.layout = options.layout;
    this.env = options.environment;
    this.processEnv = options.processEnv ?? process.env;
    this.backups = new HostBackups({
      layout: this.layout,
      environment: this.env,
      processEnv: this.processEnv,
      ledger: () => this.ledger,
      store: () => this.store,
      offsite: () => this.offsite,
      appConfig: (manifest) => this.appConfig(manifest),
      withHostLock: (holder, reason, work) => this.withHostLock(holder, reason, work),
    });
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  async start(): Promise<void> {
    await ensureHostLayout(this.layout);
    this.ledger = openLedger(this.layout.ledgerFile);
    this.journal = openJournal(this.layout.journalFile);
    this.store = await openStore(this.env.store, this.options.project.dir);
    const killed = await killStaleProcesses(this.layout.runDir);
    if (killed > 0) this.log(`stopped ${killed} process${killed === 1 ? '' : 'es'} left by a previous agent`);
    try {
      this.proxy = await createProxy({ host: this.env.bind, port: this.env.port });
    } catch (error) {
      this.ledger.close();
      const code = (((error as { cause?: unknown }).cause ?? error) as NodeJS.ErrnoException).code; // the proxy wraps the errno error
      throw new SlipwayError('PORT_IN_USE', `cannot listen on ${this.env.bind}:${this.env.port}${code ? ` (${code})` : ''}`, {
        hint: code === 'EADDRINUSE' ? `another program uses port ${this.env.port}: stop it, or change environments.${this.env.name}.port in slipway.yml` : 'check environments.<env>.bind and port in slipway.yml',
        cause: error,
      });
    }
    this.runtime = new ProcessRuntime({
      proxy: this.proxy,
      environmentName: this.env.name,
      releaseDir: (id) => releaseDir(this.layout, id),
      logsDir: this.layout.logsDir,
      runDir: this.layout.runDir,
      ...(this.env.services === undefined ? {} : { services: this.env.services }),
      drainTimeoutMs: this.env.drainTimeoutMs,
      standby: this.env.standby ?? DEFAULT_STANDBY,
      environmentFor: async (manifest) => {
        const { values } = await this.appConfig(manifest);
        return (service, extra) => serviceEnvironment({ processEnv: this.processEnv, secrets: this.env, appConfig: values, serviceEnv: service.env, extra });
      },
      log: (line) => this.log(line),
    });
    // No app process runs yet (the stale ones were stopped above): the data can be swapped safely.
    this.lastRecovery = await recoverUnfinishedUpdate(this.updateHost(), (line) => this.log(line));
    if (this.lastRecovery) this.log(this.lastRecovery.message);
    await this.serveCurrent();
    this.control = await startControlServer(this.layout.agentSocket, this.routes());
    this.remote = await startRemoteControl(this.facade());
    if (offsiteEnabled(this.env)) {
      this.offsite = createOffsiteCopier({
        layout: this.layout,
        ledger: this.ledger,
        store: this.store,
        app: this.options.project.config.app,
        environment: this.env.name,
        key: () => this.backups.backupKey(),
        log: (line) => this.log(line),
      });
      // Backups left without a copy: the store was down, or the agent stopped mid-copy.
      void this.offsite.copyPending();
    }
    if (this.env.backupSchedule) {
      this.schedule = startBackupSchedule({ cron: this.env.backupSchedule, log: (line) => this.log(line), takeBackup: () => this.backups.scheduledBackup() });
    }
    await fs.writeFile(this.layout.agentInfoFile, JSON.stringify({ pid: process.pid, startedAt: this.startedAt.toISOString(), socket: this.layout.agentSocket, port: this.proxy.port }));
    this.log(`agent for ${this.options.project.config.app}/${this.env.name} listening on http://${this.env.bind}:${this.proxy.port} (control: ${this.layout.agentSocket})`);
  }

  /** Starts the release `current` points at, if any: after a restart or a recovery. */
  private async serveCurrent(): Promise<void> {
    const currentId = await readCurrent(this.layout).catch((error) => {
      this.log(`warning: ${(error as Error).message}`);
      return null;
    });
    const id = currentId ?? this.ledger.getState().currentId;
    // Recovery may have started it already (on the data it restored).
    if (!id || this.runtime.active()?.releaseId === id) return;
    const manifest = await readInstalledManifest(this.layout, id);
    if (!manifest) {
      this.log(`warning: current release ${shortId(id)} is not on disk; nothing is served until the next deploy`);
      return;
    }
    try {
      const release = await this.runtime.startIdle(id, manifest);
      await this.runtime.activate(release);
      this.log(`serving ${manifest.version} (${shortId(id)})`);
    } catch (error) {
      this.log(`warning: the current release ${manifest.version} did not start: ${(error as Error).message}`);
    }
  }

  /** What every update gets from this agent. */
  private updateHost(): UpdateHost {
    return {
      app: this.options.project.config.app,
      environmentName: this.env.name,
      environment: this.env,
      layout: this.layout,
      ledger: this.ledger,
      journal: this.journal,
      store: this.store,
      runtime: this.runtime,
      appConfig: (manifest) => this.appConfig(manifest),
    };
  }

  private async appConfig(manifest: ReleaseManifest): Promise<{ values: Record<string, string>; missing: string[] }> {
    const envFile = await readEnvFile(this.layout.envFile);
    return resolveAppConfig({ schema: manifest.runtime.config, envFile, processEnv: this.processEnv, secrets: this.env });
  }

  private async signaturePolicy(): Promise<SignaturePolicy> {
    const publicKeysPem = await Promise.all(
      this.env.publicKeys.map(async (file) => {
        const full = path.resolve(this.options.project.dir, file);
        try {
          return await fs.readFile(full, 'utf8');
        } catch (error) {
          throw new SlipwayError('PUBLIC_KEY_UNREADABLE', `cannot read the public key ${full} of ${this.env.name}`, {
            exitCode: 2,
            cause: error,
            hint: `fix environments.${this.env.name}.public_keys in slipway.yml (paths are relative to it)`,
          });
        }
      }),
    );
    return { required: this.env.requireSignature, publicKeysPem };
  }

  /** Runs one update (deploy or rollback). Updates never overlap: the host lock refuses a second one. */
  async update(kind: 'deploy' | 'rollback', request: UpdateRequest, emit: (event: UpdateEvent) => void): Promise<UpdateOutcome> {
    // Refuse at once, before recording anything, while another update holds the host (the lock step still guards races).
    await assertNotLocked(this.layout.lockFile);
    const signatures = await this.signaturePolicy();
    const outcome = await this.track(runUpdate({ host: this.updateHost(), kind, request, signatures, emit, faults: faultsFromEnvironment(process.env) }));
    // The update's backups (pre-deploy, post-deploy, pre-restore) go off-site in the background: the deploy does not wait for the upload.
    void this.offsite?.copyPending();
    void this.remote?.reportStatus();
    return outcome;
  }

  /** The release a rollback goes to: --to <version> among the releases on disk, else the previous one. */
  resolveRollbackTarget(to?: string): string {
    const installed = this.ledger.listReleases();
    if (to) {
      const match = installed.find((r) => r.version === to || r.id === to || (to.length >= 7 && r.id.startsWith(to)));
      if (!match) throw releaseNotFoundOnHost(to, installed.map((r) => r.version));
      return match.id;
    }
    const { previousId } = this.ledger.getState();
    if (!previousId) {
      throw new SlipwayError('NO_PREVIOUS_RELEASE', 'there is no previous release to go back to', {
        exitCode: 2,
        hint: installed.length > 1 ? `name one with --to: ${installed.map((r) => r.version).join(', ')}` : 'deploy a release first',
      });
    }
    return previousId;
  }

  async status(): Promise<Record<string, unknown>> {
    const state = this.ledger.getState();
    const describe = (id: string | null) => {
      if (!id) return null;
      const record = this.ledger.getRelease(id);
      return { id, version: record?.version ?? null };
    };
    let health = 'none';
    const active = this.runtime.active();
    if (active) {
      const primary = active.services.find((s) => s.port === active.port)!;
      const probe = await probeHealth(`http://127.0.0.1:${active.port}${primary.config.health.path}`, primary.config.health.timeoutMs);
      health = probe.ok ? 'healthy' : 'unhealthy';
    }
    const lock = await readLock(this.layout.lockFile);
    const maintenance = this.proxy.maintenance();
    const standby = this.runtime.standbyEntry();
    return {
      environment: this.env.name,
      url: `http://${this.env.bind === '0.0.0.0' ? '127.0.0.1' : this.env.bind}:${this.proxy.port}`,
      current: describe(state.currentId),
      previous: describe(state.previousId),
      health,
      lock: lock ? { holder: lock.holder, pid: lock.pid, since: lock.since, reason: lock.reason, stale: lock.stale } : null,
      maintenance: maintenance.mode === 'off' ? null : maintenance,
      agent: { pid: process.pid, startedAt: this.startedAt.toISOString(), uptimeSeconds: Math.round((Date.now() - this.startedAt.getTime()) / 1000), cli: process.argv[1] ?? null },
      // The active slot first; a standby slot after it runs, unrouted, until its window ends.
      slots: [
        ...(active ? [{ role: 'active', ...describeSlot(active) }] : []),
        ...(standby ? [{ role: 'standby', ...describeSlot(standby.slot), standbySince: standby.since.toISOString(), standbyUntil: standby.until.toISOString() }] : []),
      ],
      standby: standby ? { id: standby.slot.releaseId, version: standby.slot.version, slot: standby.slot.name, since: standby.since.toISOString(), until: standby.until.toISOString() } : null,
      recovery: this.lastRecovery,
      backups: {
        schedule: this.env.backupSchedule ?? null,
        nextScheduled: this.schedule?.next()?.toISOString() ?? null,
        offsite: this.offsite ? this.store.description : null,
      },
    };
  }

  private routes() {
    const streamUpdate = (kind: 'deploy' | 'rollback', target: (body: any) => UpdateRequest) => ({
      kind: 'stream' as const,
      handle: async (body: any, emit: (event: unknown) => void) => {
        const request = target(body);
        const outcome = await this.update(kind, request, emit);
        return { ok: outcome.ok, deploymentId: outcome.deploymentId, version: outcome.version, releaseId: request.releaseId, error: outcome.error ? toWireError(outcome.error) : undefined, undoFailures: outcome.undoFailures };
      },
    });
    const requestBase = (body: any) => ({ who: body.who, reason: body.reason });
    return {
      'GET /v1/status': { kind: 'json' as const, handle: () => this.status() },
      'POST /v1/deploy': streamUpdate('deploy', (body) => ({ ...requestBase(body), releaseId: String(body.releaseId ?? ''), version: body.version, allowOlder: Boolean(body.allowOlder) })),
      'POST /v1/rollback': streamUpdate('rollback', (body) =>
        body.withData ? { ...requestBase(body), ...rollbackWithDataTarget(this.ledger, body.to) } : { ...requestBase(body), releaseId: this.resolveRollbackTarget(body.to) },
      ),
      'POST /v1/restore': streamUpdate('rollback', (body) => ({ ...requestBase(body), ...restoreTarget(this.ledger, String(body.backupId ?? ''), Boolean(body.dataOnly)) })),
      'POST /v1/data/import': streamUpdate('rollback', (body) => {
        const currentId = this.ledger.getState().currentId;
        if (!currentId) throw new SlipwayError('NOTHING_DEPLOYED', `nothing is deployed to ${this.env.name}: deploy a release before copying data into it`, { exitCode: 2, hint: 'slipway deploy <env>' });
        return { ...requestBase(body), recordAs: 'restore', releaseId: currentId, restoreBackupId: String(body.backupId), restoreBackupDir: String(body.backupDir), scrubFile: body.scrubFile ? String(body.scrubFile) : undefined };
      }),
      'POST /v1/backup': {
        kind: 'json' as const,
        handle: async (body: any) => {
          const backup = await this.withHostLock('slipway backup', `backup (${body.reason ?? 'manual'})`, () => this.backups.takeBackup(body.reason ?? 'manual'));
          // After the lock: an upload must not hold up deploys.
          return { ...backup, offsite: await this.backups.copyOffsiteNow(backup.id) };
        },
      },
      'POST /v1/backup/fetch': {
        kind: 'json' as const,
        handle: (body: any) =>
          this.withHostLock('slipway backup fetch', `fetch backup ${body.id} from the store`, async () =>
            fetchOffsiteBackup({
              layout: this.layout,
              ledger: this.ledger,
              store: this.store,
              app: this.options.project.config.app,
              environment: this.env.name,
              backupId: String(body.id ?? ''),
              key: await this.backups.backupKey(),
            }),
          ),
      },
      'POST /v1/backup/offsite': {
        kind: 'json' as const,
        handle: async () => {
          if (!this.offsite) {
            throw new SlipwayError('OFFSITE_OFF', `off-site copies are off for ${this.env.name}`, {
              exitCode: 2,
              hint: `set backup_key_env (and leave offsite_backups on) under environments.${this.env.name} in slipway.yml, then restart the agent`,
            });
          }
          const result = await this.offsite.copyPending();
          return { copied: result.copied, failed: result.failed ? { id: result.failed.id, error: toWireError(result.failed.error) } : null, left: result.left };
        },
      },
      'POST /v1/backup/verify': {
        kind: 'json' as const,
        handle: (body: any) => this.withHostLock('slipway backup verify', `verify backup ${body.id}`, () => this.backups.verifyBackupById(String(body.id ?? ''))),
      },
      'POST /v1/backup/prune': {
        kind: 'json' as const,
        handle: (body: any) =>
          this.withHostLock('slipway backup prune', 'prune old backups', () =>
            pruneBackups({ layout: this.layout, ledger: this.ledger, policy: this.env.retention.backups, environment: this.env.name, dryRun: Boolean(body.dryRun) }),
          ),
      },
      'POST /v1/maintenance': {
        kind: 'json' as const,
        handle: async (body: any) => {
          const mode: MaintenanceMode = body.mode === 'off' ? { mode: 'off' } : body.holdSeconds ? { mode: 'hold', holdMs: Number(body.holdSeconds) * 1000 } : { mode: 'refuse', retryAfterSeconds: 30 };
          this.proxy.setMaintenance(mode);
          return { maintenance: mode };
        },
      },
      'POST /v1/prune': {
        kind: 'json' as const,
        handle: async (body: any) => {
          const keep = Number.isInteger(body.keep) ? body.keep : this.env.retention.releases;
          const removed = await this.withHostLock('slipway prune', 'prune old releases', () =>
            pruneReleases({ layout: this.layout, ledger: this.ledger, keep, dryRun: Boolean(body.dryRun), sweepObjects: true }),
          );
          return { removed, keep };
        },
      },
      'POST /v1/stop': {
        kind: 'json' as const,
        handle: async () => {
          setImmediate(() => this.options.onStopRequested?.());
          return { stopping: true };
        },
      },
    };
  }

  private facade(): AgentFacade {
    return {
      app: this.options.project.config.app,
      environment: this.env,
      layout: this.layout,
      ledger: this.ledger,
      store: this.store,
      processEnv: this.processEnv,
      status: () => this.status(),
      update: (kind, request, emit) => this.update(kind, request, emit),
      resolveRollbackTarget: (to) => this.resolveRollbackTarget(to),
      logTail: (lines) => this.runtime.logTail(lines),
      log: (line) => this.log(line),
    };
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work)).catch(() => undefined);
    return work;
  }

  /** Work that changes the host outside an update (prune, backups) holds the same lock. */
  private async withHostLock<T>(holder: string, reason: string, work: () => Promise<T>): Promise<T> {
    const lock = await acquireLock(this.layout.lockFile, { holder, reason });
    try {
      return await this.track(work());
    } finally {
      await releaseLock(this.layout.lockFile, lock.token);
    }
  }

  /** Stops everything in reverse order of starting; the app's processes are never orphaned. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const results = await Promise.allSettled([
        // Waits for a scheduled backup in progress. An off-site copy in progress is not waited for:
        // cut short, it leaves no index.json (never listed) and is redone at the next start.
        this.schedule?.stop(),
        this.remote?.close(),
        this.control?.close(),
        ...this.running,
      ]);
      await this.runtime?.close();
      results.push(...(await Promise.allSettled([this.proxy?.close()])));
      await fs.rm(this.layout.agentInfoFile, { force: true });
      this.ledger?.close();
    })();
    return this.closing;
  }
}

function describeSlot(slot: Slot) {
  return {
    name: slot.name,
    releaseId: slot.releaseId,
    version: slot.version,
    port: slot.port,
    startedAt: slot.startedAt,
    services: slot.services.map((s) => ({ name: s.config.name, port: s.port, pid: s.process.pid() ?? null, state: s.process.state(), restarts: s.process.restarts() })),
  };
}

async function assertNotLocked(lockFile: string): Promise<void> {
  const lock = await readLock(lockFile);
  if (lock && !lock.stale) {
    throw new SlipwayError('HOST_LOCKED', `the host is locked by ${lock.holder} (pid ${lock.pid}) since ${lock.since}: ${lock.reason}`, {
      hint: 'wait for it to finish (`slipway lock status`), or if its process is gone: `slipway lock release --force`',
    });
  }
}
