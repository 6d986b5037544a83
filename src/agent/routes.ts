/**
 * What the agent answers on its control socket: one handler per call of
 * AGENT_ROUTES (api.ts), each given a body its schema already accepted.
 */
import { SlipwayError } from '../errors.js';
import type { EnvironmentConfig } from '../config/types.js';
import type { HostLayout } from '../host/layout.js';
import type { Ledger } from '../host/ledger.js';
import { pruneReleases } from '../host/prune.js';
import type { BlobStore } from '../store/blob-store.js';
import type { MaintenanceMode } from '../runtime/proxy.js';
import type { UpdateEvent, UpdateOutcome, UpdateRequest } from '../update/run-update.js';
import { pruneBackups } from '../data/index.js';
import { fetchOffsiteBackup, type OffsiteCopier } from '../data/offsite.js';
import type { AgentHandlers, AgentStatus, UpdateResult } from './api.js';
import { importData, rollbackWithDataTarget, restoreTarget } from './data-requests.js';
import type { HostBackups } from './host-backups.js';
import { resolveRollbackTarget } from './rollback-target.js';
import { toWireError } from './wire.js';
import { updateResultOf } from './update-result.js';

/** What the routes need from the agent: its host's state (opened at start), its work, its lock. */
export interface RouteDeps {
  app: string;
  environment: EnvironmentConfig;
  layout: HostLayout;
  ledger(): Ledger;
  /** where the environment's off-site copies lie (`offsite_store`, else its store) */
  offsiteStore(): BlobStore;
  offsite(): OffsiteCopier | null;
  backups: HostBackups;
  status(): Promise<AgentStatus>;
  setMaintenance(mode: MaintenanceMode): void;
  update(kind: 'deploy' | 'rollback', request: UpdateRequest, emit: (event: UpdateEvent) => void): Promise<UpdateOutcome>;
  withHostLock<T>(holder: string, reason: string, work: () => Promise<T>): Promise<T>;
  /** `slipway agent --stop`: asked after the answer is sent */
  requestStop(): void;
}

export function agentHandlers(deps: RouteDeps): AgentHandlers {
  const env = deps.environment;
  /** Runs an update and says how it ended (the stream's last line). */
  const runUpdate = async (kind: 'deploy' | 'rollback', request: UpdateRequest, emit: (event: UpdateEvent) => void): Promise<UpdateResult> => {
    return updateResultOf(await deps.update(kind, request, emit), request.releaseId);
  };

  return {
    status: () => deps.status(),

    deploy: (body, emit) =>
      runUpdate('deploy', { who: body.who, reason: body.reason, releaseId: body.releaseId, version: body.version, allowOlder: Boolean(body.allowOlder), rolloutBackupId: body.rolloutBackupId }, emit),

    rollback: async (body, emit) => {
      const asker = { who: body.who, reason: body.reason };
      const request = body.withData ? { ...asker, ...rollbackWithDataTarget(deps.ledger(), body.to) } : { ...asker, releaseId: resolveRollbackTarget(deps.ledger(), body.to) };
      return runUpdate('rollback', request, emit);
    },

    restore: async (body, emit) => runUpdate('rollback', { who: body.who, reason: body.reason, ...restoreTarget(deps.ledger(), body.backupId, Boolean(body.dataOnly)) }, emit),

    // Recorded in the ledger's data copies (data-requests.ts), as the data_copy schedule's are.
    dataImport: (body, emit) =>
      importData({ ledger: deps.ledger(), layout: deps.layout, environment: env.name, trigger: 'manual', request: body, run: (request) => runUpdate('rollback', request, emit) }),

    backup: async (body) => {
      const reason = body.reason ?? 'manual';
      const backup = await deps.withHostLock('slipway backup', `backup (${reason})`, () => deps.backups.takeBackup(reason));
      // After the lock: an upload must not hold up deploys.
      return { ...backup, offsite: await deps.backups.copyOffsiteNow(backup.id) };
    },

    backupFetch: (body) =>
      deps.withHostLock('slipway backup fetch', `fetch backup ${body.id} from the store`, async () =>
        fetchOffsiteBackup({
          layout: deps.layout,
          ledger: deps.ledger(),
          store: deps.offsiteStore(),
          app: deps.app,
          environment: env.name,
          backupId: body.id,
          key: await deps.backups.backupKey(),
        }),
      ),

    backupOffsite: async () => {
      const offsite = deps.offsite();
      if (!offsite) {
        throw new SlipwayError('OFFSITE_OFF', `off-site copies are off for ${env.name}`, {
          exitCode: 2,
          hint: `set backup_key_env (and leave offsite_backups on) under environments.${env.name} in slipway.yml, then restart the agent`,
        });
      }
      const result = await offsite.copyPending();
      return { copied: result.copied, failed: result.failed ? { id: result.failed.id, error: toWireError(result.failed.error) } : null, left: result.left };
    },

    backupVerify: (body) => deps.withHostLock('slipway backup verify', `verify backup ${body.id}`, () => deps.backups.verifyBackupById(body.id)),

    backupPrune: (body) =>
      deps.withHostLock('slipway backup prune', 'prune old backups', () =>
        pruneBackups({ layout: deps.layout, ledger: deps.ledger(), policy: env.retention.backups, environment: env.name, dryRun: Boolean(body.dryRun) }),
      ),

    maintenance: async (body) => {
      const mode: MaintenanceMode = body.mode === 'off' ? { mode: 'off' } : body.holdSeconds ? { mode: 'hold', holdMs: body.holdSeconds * 1000 } : { mode: 'refuse', retryAfterSeconds: 30 };
      deps.setMaintenance(mode);
      return { maintenance: mode };
    },

    prune: async (body) => {
      const keep = body.keep ?? env.retention.releases;
      const removed = await deps.withHostLock('slipway prune', 'prune old releases', () =>
        pruneReleases({ layout: deps.layout, ledger: deps.ledger(), keep, dryRun: Boolean(body.dryRun), sweepObjects: true, environment: env.name }),
      );
      return { removed, keep };
    },

    stop: async () => {
      setImmediate(() => deps.requestStop());
      return { stopping: true as const };
    },
  };
}
