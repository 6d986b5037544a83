import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { DEFAULT_STANDBY, type EnvironmentConfig, type LoadedProject } from '../config/types.js';
import { shortId, type ReleaseManifest } from '../release/manifest.js';
import { createProxy, type ReverseProxy } from '../runtime/proxy.js';
import { killStaleProcesses } from '../runtime/supervisor.js';
import { ProcessRuntime } from '../runtime/process-runtime.js';
import { openStore } from '../store/open-store.js';
import type { BlobStore } from '../store/blob-store.js';
import { ensureHostLayout, releaseDir, type HostLayout } from '../host/layout.js';
import { openLedger, type Ledger } from '../host/ledger.js';
import { openJournal, type Journal } from '../host/journal.js';
import { acquireLock, assertHostNotLocked, releaseLock } from '../host/lock.js';
import { readCurrent } from '../host/current-link.js';
import { readInstalledManifest } from '../host/install-release.js';
import { readEnvFile, resolveAppConfig, serviceEnvironment } from '../host/app-env.js';
import { createOffsiteCopier, offsiteEnabled, openOffsiteStore, type OffsiteCopier } from '../data/offsite.js';
import { recoverUnfinishedUpdate, type RecoveryReport } from '../update/recovery.js';
import type { UpdateHost } from '../update/context.js';
import { runUpdate, type UpdateEvent, type UpdateOutcome, type UpdateRequest } from '../update/run-update.js';
import { faultsFromEnvironment } from '../update/test-faults.js';
import type { AgentStatus } from './api.js';
import { startControlServer } from './control-server.js';
import { ownLogRotation, type OwnLogRotation } from './agent-log.js';
import { printable } from '../util/terminal-text.js';
import { agentHandlers, type RouteDeps } from './routes.js';
import { liveStatus } from './status.js';
import { readSignaturePolicy } from './signature-policy.js';
import { HostBackups } from './host-backups.js';
import { startRemoteControl, type AgentFacade, type RemoteControl } from './remote-control.js';
import { startBackupSchedule, type BackupSchedule } from './backup-schedule.js';
import { startAgentCopySchedule, type CopySchedule } from './copy-schedule.js';
import { CertificateManager } from './certificates.js';
import { AcmeChallenges } from '../runtime/acme-challenges.js';
import { SecureContexts, type ProxyTlsOptions } from '../runtime/proxy-tls.js';

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
  /** where off-site copies go: `offsite_store`, else the store itself */
  private offsiteStore!: BlobStore;
  private proxy!: ReverseProxy;
  private control?: { socketPath: string; close(): Promise<void> };
  private ownLog: OwnLogRotation | null = null;
  private remote?: RemoteControl;
  /** backup_schedule: the agent's own backups */
  private schedule?: BackupSchedule;
  /** data_copy: the agent's scheduled copies of another environment's data into this one */
  private copySchedule?: CopySchedule;
  /** `tls`: the certificates the proxy serves, obtained and renewed here */
  private certificates?: CertificateManager;
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
      offsiteStore: () => this.offsiteStore,
      offsite: () => this.offsite,
      appConfig: (manifest) => this.appConfig(manifest),
      withHostLock: (holder, reason, work) => this.withHostLock(holder, reason, work),
    });
  }

  private log(line: string): void {
    // One line each, whatever it quotes (who/why from the store, a release's text): no forged lines, no terminal escapes.
    this.options.log?.(printable(line));
    this.ownLog?.check();
  }

  /**
   * Service containers a previous agent left running (it was killed): stopped, like its processes.
   * Only for apps with containers: a process-only host may have no engine at all.
   */
  private async stopStaleContainers(): Promise<void> {
    const { currentId } = this.ledger.getState();
    const manifest = currentId ? await readInstalledManifest(this.layout, currentId) : null;
    const usesContainers = this.options.project.config.services.some((s) => s.container !== undefined) || manifest?.runtime.services.some((s) => s.image !== undefined);
    if (!usesContainers) return;
    try {
      const { stopStaleContainers } = await import('../runtime/container-cleanup.js');
      const { stopped, removed } = await stopStaleContainers({ app: this.options.project.config.app, environment: this.env.name });
      if (stopped + removed > 0) this.log(`stopped ${stopped} container${stopped === 1 ? '' : 's'} and removed ${removed} one-off container${removed === 1 ? '' : 's'} left by a previous agent`);
    } catch (error) {
      // The engine may come up after the agent: the first deploy says so clearly; the agent still starts.
      this.log(`could not check for containers left by a previous agent: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async start(): Promise<void> {
    await ensureHostLayout(this.layout);
    // Before anything opens: a user's key file others can read stops the start here.
    const tls = await this.loadCertificates();
    // Started in the background by the CLI, the agent writes to logs/agent.log: it rotates that file itself.
    this.ownLog = ownLogRotation({ file: path.join(this.layout.logsDir, 'agent.log') });
    this.ledger = openLedger(this.layout.ledgerFile);
    this.journal = openJournal(this.layout.journalFile);
    this.store = await openStore(this.env.store, this.options.project.dir);
    this.offsiteStore = await openOffsiteStore({ environment: this.env, store: this.store, projectDir: this.options.project.dir, env: this.processEnv });
    const killed = await killStaleProcesses(this.layout.runDir);
    if (killed > 0) this.log(`stopped ${killed} process${killed === 1 ? '' : 'es'} left by a previous agent`);
    await this.stopStaleContainers();
    try {
      this.proxy = await createProxy({ host: this.env.bind, port: this.env.port, trustedProxies: this.env.trustedProxies ?? [], ...(tls ? { tls } : {}) });
    } catch (error) {
      this.ledger.close();
      if (this.env.tls && error instanceof SlipwayError && !error.message.includes(`:${this.env.port} (`)) {
        throw new SlipwayError('PORT_IN_USE', error.message, { hint: `another program uses that port, or ports below 1024 need privileges: change environments.${this.env.name}.tls.port or http_port, or grant the capability (setcap cap_net_bind_service=+ep $(which node))`, cause: error });
      }
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
    this.certificates?.start();
    this.control = await startControlServer(this.layout.agentSocket, agentHandlers(this.routeDeps()));
    this.remote = await startRemoteControl(this.facade());
    if (offsiteEnabled(this.env)) {
      this.offsite = createOffsiteCopier({
        layout: this.layout,
        ledger: this.ledger,
        store: this.offsiteStore,
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
    if (this.env.dataCopy) {
      try {
        this.copySchedule = startAgentCopySchedule({
          project: this.options.project,
          environment: this.env,
          settings: this.env.dataCopy,
          layout: this.layout,
          ledger: () => this.ledger,
          processEnv: this.processEnv,
          update: (kind, request, emit) => this.update(kind, request, emit),
          log: (line) => this.log(line),
        });
      } catch (error) {
        this.log(`warning: no scheduled data copies: ${(error as Error).message}`);
      }
    }
    await fs.writeFile(this.layout.agentInfoFile, JSON.stringify({ pid: process.pid, startedAt: this.startedAt.toISOString(), socket: this.control.socketPath, port: this.proxy.port, httpsPort: this.proxy.httpsPort }));
    const https = this.proxy.httpsPort === null ? '' : ` and https://${this.env.bind}:${this.proxy.httpsPort}`;
    this.log(`agent for ${this.options.project.config.app}/${this.env.name} listening on http://${this.proxy.host}:${this.proxy.port}${https} (control: ${this.control.socketPath})`);
  }

  /** `tls`: the proxy's certificates, loaded before it listens (refusing a user key others can read). */
  private async loadCertificates(): Promise<ProxyTlsOptions | undefined> {
    const tls = this.env.tls;
    if (!tls) return undefined;
    const contexts = new SecureContexts();
    const challenges = new AcmeChallenges();
    this.certificates = new CertificateManager({ tls, layout: this.layout, projectDir: this.options.project.dir, contexts, challenges, log: (line) => this.log(line) });
    await this.certificates.load();
    return { port: tls.port, httpPort: tls.httpPort, redirectHttp: tls.redirectHttp, contexts, ...(tls.kind === 'acme' ? { challenges } : {}) };
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

  /** Runs one update (deploy or rollback). Updates never overlap: the host lock refuses a second one. */
  async update(kind: 'deploy' | 'rollback', request: UpdateRequest, emit: (event: UpdateEvent) => void): Promise<UpdateOutcome> {
    // Refuse at once, before recording anything, while another update holds the host (the lock step still guards races).
    await assertHostNotLocked(this.layout.lockFile);
    const signatures = await readSignaturePolicy(this.env, this.options.project.dir);
    const outcome = await this.track(runUpdate({ host: this.updateHost(), kind, request, signatures, emit, faults: faultsFromEnvironment(process.env) }));
    // The update's backups (pre-deploy, post-deploy, pre-restore) go off-site in the background: the deploy does not wait for the upload.
    void this.offsite?.copyPending();
    void this.remote?.reportStatus();
    return outcome;
  }

  /** The host's status as the agent sees it (api.ts's AgentStatus). */
  status(): Promise<AgentStatus> {
    return liveStatus({
      environment: this.env,
      layout: this.layout,
      ledger: this.ledger,
      port: this.proxy.port,
      maintenance: this.proxy.maintenance(),
      projectDir: this.options.project.dir,
      live: {
        agent: { pid: process.pid, startedAt: this.startedAt, cli: process.argv[1] ?? null },
        active: this.runtime.active(),
        standby: this.runtime.standbyEntry(),
        recovery: this.lastRecovery,
        backups: { schedule: this.env.backupSchedule ?? null, nextScheduled: this.schedule?.next() ?? null, offsite: this.offsite ? this.offsiteStore.description : null },
      },
    });
  }

  /** What the control socket's calls (routes.ts) use of this agent. */
  private routeDeps(): RouteDeps {
    return {
      app: this.options.project.config.app,
      environment: this.env,
      layout: this.layout,
      ledger: () => this.ledger,
      offsiteStore: () => this.offsiteStore,
      offsite: () => this.offsite,
      backups: this.backups,
      status: () => this.status(),
      setMaintenance: (mode) => this.proxy.setMaintenance(mode),
      update: (kind, request, emit) => this.update(kind, request, emit),
      withHostLock: (holder, reason, work) => this.withHostLock(holder, reason, work),
      requestStop: () => this.options.onStopRequested?.(),
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
      signaturePolicy: () => readSignaturePolicy(this.env, this.options.project.dir),
      status: () => this.status(),
      update: (kind, request, emit) => this.update(kind, request, emit),
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
        this.copySchedule?.stop(),
        this.certificates?.stop(),
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
