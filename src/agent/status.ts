/**
 * A host's status, built in one place (buildAgentStatus) from what is known about
 * the host: by its running agent (liveStatus), or from its files when no agent runs
 * (offlineStatus, for `slipway status`). The shape is AgentStatus (api.ts). What the Docker
 * engine says about the environment's containers (containerStatus) is added beside it.
 */
import { promises as fs } from 'node:fs';
import type Docker from 'dockerode';
import type { AccessoryConfig, EnvironmentConfig } from '../config/types.js';
import { connectEngine, engineFailure, LABELS } from '../container/engine.js';
import { accessoryStatus, type AccessoryStatus } from '../host/accessory.js';
import { shortImageId } from '../runtime/container-spec.js';
import type { HostLayout } from '../host/layout.js';
import { openLedger, type HostState, type Ledger } from '../host/ledger.js';
import { readLock, type LockStatus } from '../host/lock.js';
import { probeHealth } from '../runtime/health-check.js';
import type { MaintenanceMode } from '../runtime/proxy.js';
import type { Slot } from '../runtime/slots.js';
import type { StandbyEntry } from '../runtime/standby.js';
import type { RecoveryReport } from '../update/recovery.js';
import type { AgentStatus, SlotView } from './api.js';
import { dataAgeOf, type DataAge } from '../host/data-age.js';
import { describeTls, type TlsView } from './certificate-report.js';

/** What a running agent knows beyond the host's files. */
export interface LiveFacts {
  agent: { pid: number; startedAt: Date; cli: string | null };
  active: Slot | null;
  standby: StandbyEntry | null;
  recovery: RecoveryReport | null;
  backups: { schedule: string | null; nextScheduled: Date | null; offsite: string | null };
}

export interface StatusFacts {
  /** how old the data is (host/data-age.ts) */
  dataAge: DataAge | null;
  environment: Pick<EnvironmentConfig, 'name' | 'bind'>;
  /** the public port the app answers on */
  port: number;
  state: HostState;
  /** the version of a release the host knows, or null */
  versionOf(id: string): string | null;
  health: AgentStatus['health'];
  lock: LockStatus | null;
  maintenance: MaintenanceMode;
  /** absent: no agent runs */
  live?: LiveFacts;
  /** `tls:` of the environment, read from the host's files (absent without tls) */
  tls?: TlsView;
  now?: Date;
}

/** The one place a host's status is put together. */
export function buildAgentStatus(f: StatusFacts): AgentStatus {
  const describe = (id: string | null) => (id ? { id, version: f.versionOf(id) } : null);
  const { live } = f;
  const now = f.now ?? new Date();
  const base: AgentStatus = {
    environment: f.environment.name,
    url: `http://${f.environment.bind === '0.0.0.0' ? '127.0.0.1' : f.environment.bind}:${f.port}`,
    current: describe(f.state.currentId),
    previous: describe(f.state.previousId),
    health: f.health,
    lock: f.lock ? { holder: f.lock.holder, pid: f.lock.pid, since: f.lock.since, reason: f.lock.reason, stale: f.lock.stale } : null,
    maintenance: f.maintenance.mode === 'off' ? null : f.maintenance,
    agent: live
      ? { pid: live.agent.pid, startedAt: live.agent.startedAt.toISOString(), uptimeSeconds: Math.round((now.getTime() - live.agent.startedAt.getTime()) / 1000), cli: live.agent.cli }
      : null,
    slots: [],
  };
  // Last, after what the contract and the agent's own facts say.
  if (!live) return { ...base, dataAge: f.dataAge };
  const { active, standby } = live;
  return {
    ...base,
    // The active slot first; a standby slot after it runs, unrouted, until its window ends.
    slots: [
      ...(active ? [describeSlot('active', active)] : []),
      ...(standby ? [{ ...describeSlot('standby', standby.slot), standbySince: standby.since.toISOString(), standbyUntil: standby.until.toISOString() }] : []),
    ],
    standby: standby ? { id: standby.slot.releaseId, version: standby.slot.version, slot: standby.slot.name, since: standby.since.toISOString(), until: standby.until.toISOString() } : null,
    recovery: live.recovery,
    backups: { schedule: live.backups.schedule, nextScheduled: live.backups.nextScheduled?.toISOString() ?? null, offsite: live.backups.offsite },
    dataAge: f.dataAge,
    ...(f.tls === undefined ? {} : { tls: f.tls }),
  };
}

function describeSlot(role: SlotView['role'], slot: Slot): SlotView {
  return {
    role,
    name: slot.name,
    releaseId: slot.releaseId,
    version: slot.version,
    port: slot.port,
    startedAt: slot.startedAt,
    services: slot.services.map((s) => ({ name: s.config.name, port: s.port, pid: s.process.pid() ?? null, state: s.process.state(), restarts: s.process.restarts() })),
  };
}

/** The status a running agent answers: its health probe of the active release, the proxy's state, its slots. */
export async function liveStatus(o: {
  environment: EnvironmentConfig;
  layout: HostLayout;
  ledger: Ledger;
  port: number;
  maintenance: MaintenanceMode;
  live: LiveFacts;
  /** the project file's folder (a user's cert_file is relative to it) */
  projectDir: string;
}): Promise<AgentStatus> {
  const { active } = o.live;
  let health: AgentStatus['health'] = 'none';
  if (active) {
    const primary = active.services.find((s) => s.port === active.port)!;
    const probe = await probeHealth(`http://127.0.0.1:${active.port}${primary.config.health.path}`, primary.config.health.timeoutMs);
    health = probe.ok ? 'healthy' : 'unhealthy';
  }
  return buildAgentStatus({
    environment: o.environment,
    port: o.port,
    state: o.ledger.getState(),
    versionOf: (id) => o.ledger.getRelease(id)?.version ?? null,
    health,
    lock: await readLock(o.layout.lockFile),
    maintenance: o.maintenance,
    live: o.live,
    dataAge: dataAgeOf(o.ledger, o.environment.name),
    // The dashboard's certificates: what the agent recorded of each (issuer, expiry, last renewal error).
    ...(o.environment.tls === undefined ? {} : { tls: await describeTls({ tls: o.environment.tls, layout: o.layout, projectDir: o.projectDir }) }),
  });
}

/** The status of a host whose agent does not run, from its ledger (read only) and lock file. */
export async function offlineStatus(o: { environment: EnvironmentConfig; layout: HostLayout }): Promise<AgentStatus> {
  const ledgerExists = await fs.stat(o.layout.ledgerFile).then(
    () => true,
    () => false,
  );
  const ledger = ledgerExists ? openLedger(o.layout.ledgerFile, { readonly: true }) : null;
  try {
    return buildAgentStatus({
      environment: o.environment,
      port: o.environment.port,
      state: ledger?.getState() ?? { currentId: null, previousId: null },
      versionOf: (id) => ledger?.getRelease(id)?.version ?? null,
      health: 'agent not running',
      lock: await readLock(o.layout.lockFile),
      maintenance: { mode: 'off' },
      dataAge: ledger ? dataAgeOf(ledger, o.environment.name) : null,
    });
  } finally {
    ledger?.close();
  }
}

/** A container of a release's service, as `status` shows it. */
export interface ServiceContainerView {
  service: string;
  slot: string | null;
  releaseId: string;
  version: string | null;
  name: string;
  /** the image id, 12 hex digits */
  imageId: string;
  /** the engine's state: running, exited, created, restarting… */
  state: string;
}

/** An accessory's container, as `status` shows it. */
export interface AccessoryView {
  name: string;
  state: AccessoryStatus['state'];
  /** the image it runs (slipway.yml's when it has no container yet) */
  image: string;
  imageId: string | null;
  port: number | null;
  answering: boolean | null;
  drift: string[];
}

/**
 * What the Docker engine says about the environment's containers: those of the releases named
 * (the current one, a standby) and its accessories. Asked by the CLI on the host, not the agent,
 * so that it is there whether the agent runs or not.
 */
export async function containerStatus(o: { app: string; environment: string; layout: HostLayout; releaseIds: string[]; accessories: AccessoryConfig[] }): Promise<{ containers: ServiceContainerView[]; accessories: AccessoryView[] }> {
  const docker = await connectEngine();
  let listed: Docker.ContainerInfo[];
  try {
    listed = await docker.listContainers({ all: true, filters: { label: [`${LABELS.app}=${o.app}`, `${LABELS.environment}=${o.environment}`, `${LABELS.role}=service`] } });
  } catch (error) {
    throw engineFailure(`listing the containers of ${o.app} ${o.environment}`, error);
  }
  const containers = listed
    .filter((c) => o.releaseIds.includes(c.Labels[LABELS.release] ?? ''))
    .map((c) => ({
      service: c.Labels[LABELS.service] ?? '?',
      slot: c.Labels[LABELS.slot] ?? null,
      releaseId: c.Labels[LABELS.release]!,
      version: c.Labels[LABELS.version] ?? null,
      name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
      imageId: shortImageId(c.ImageID),
      state: c.State,
    }))
    .sort((a, b) => o.releaseIds.indexOf(a.releaseId) - o.releaseIds.indexOf(b.releaseId) || a.service.localeCompare(b.service));
  const accessories: AccessoryView[] = [];
  for (const accessory of o.accessories) {
    const s = await accessoryStatus({ app: o.app, environment: o.environment, layout: o.layout, docker, accessory });
    accessories.push({ name: s.name, state: s.state, image: s.containerImage ?? s.image, imageId: s.imageId === null ? null : shortImageId(s.imageId), port: s.port, answering: s.answering, drift: s.drift });
  }
  return { containers, accessories };
}
