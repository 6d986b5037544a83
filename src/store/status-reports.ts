/**
 * What each host of an environment reports about itself, kept in the store
 * (`<app>/status/<env>/<host>.json`) so that `slipway status <env>` sees every
 * host of a pull-mode fleet and `slipway promote` can tell a release that ran
 * healthy from one that never did.
 */
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import type { BlobStore } from './blob-store.js';

export interface ReleaseRef {
  id: string;
  version: string | null;
}

export interface HostStatusReport {
  host: string;
  environment: string;
  /** ISO 8601, when the host wrote this report */
  reportedAt: string;
  current: ReleaseRef | null;
  previous: ReleaseRef | null;
  /** 'healthy' | 'unhealthy' | 'none' (nothing served) | 'unknown' */
  health: string;
  /**
   * The deployment (deploy or rollback) that made `current` current, once it
   * finished: `succeeded` means the release passed its health window here.
   */
  currentDeployment: { id: number; outcome: string; finishedAt: string | null } | null;
  /** the last deployment this host attempted, whatever its outcome */
  lastDeployment: {
    id: number;
    kind: string;
    releaseId: string | null;
    version: string | null;
    outcome: string | null;
    startedAt: string;
    finishedAt: string | null;
    error: string | null;
  } | null;
  /** a release that failed here; the agent does not retry it until the channel moves */
  failedRelease: { id: string; version: string | null; error: string; at: string } | null;
  /** the channel pointer the host last saw */
  channel: { releaseId: string; version: string; when: string } | null;
  /** how old the host's data is, as its `status --json` says (read with parseDataAge; absent from older hosts) */
  dataAge?: unknown;
  /** set by readHostStatuses when the stored report cannot be read */
  problem?: string;
}

const releaseRef = z.object({ id: z.string(), version: z.string().nullable() }).nullable();
const reportSchema = z.looseObject({
  host: z.string(),
  environment: z.string(),
  reportedAt: z.string(),
  current: releaseRef,
  previous: releaseRef,
  health: z.string(),
  currentDeployment: z.looseObject({ id: z.number(), outcome: z.string(), finishedAt: z.string().nullable() }).nullable(),
  lastDeployment: z
    .looseObject({
      id: z.number(),
      kind: z.string(),
      releaseId: z.string().nullable(),
      version: z.string().nullable(),
      outcome: z.string().nullable(),
      startedAt: z.string(),
      finishedAt: z.string().nullable(),
      error: z.string().nullable(),
    })
    .nullable(),
  failedRelease: z.looseObject({ id: z.string(), version: z.string().nullable(), error: z.string(), at: z.string() }).nullable(),
  channel: z.looseObject({ releaseId: z.string(), version: z.string(), when: z.string() }).nullable(),
});

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const statusPrefix = (app: string, env: string) => `${app}/status/${env}`;

export function hostStatusKey(app: string, env: string, host: string): string {
  if (!HOST_NAME.test(host)) {
    throw new SlipwayError('STATUS_BAD_HOST_NAME', `"${host}" cannot name a host in status reports`, {
      exitCode: 2,
      hint: 'set environments.<env>.hostname in slipway.yml to letters, digits, dots, dashes and underscores',
    });
  }
  return `${statusPrefix(app, env)}/${host}.json`;
}

/** The fields of a ledger deployment record that a report needs (DeploymentRecord satisfies it). */
export interface DeploymentSummary {
  id: number;
  kind: string;
  toId: string | null;
  toVersion: string | null;
  outcome: string | null;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

/**
 * Builds a host's report from what its agent knows: its status (current,
 * previous, health), its deployments newest first (ledger.listDeployments()),
 * the release the poller gave up on and the pointer it last saw.
 */
export function buildHostStatusReport(o: {
  host: string;
  environment: string;
  current: ReleaseRef | null;
  previous: ReleaseRef | null;
  health: string;
  deployments: DeploymentSummary[];
  failedRelease?: HostStatusReport['failedRelease'];
  channel?: { releaseId: string; version: string; when: string } | null;
  dataAge?: unknown;
  now?: Date;
}): HostStatusReport {
  const last = o.deployments[0] ?? null;
  const madeCurrent = o.current ? o.deployments.find((d) => d.toId === o.current!.id && d.outcome !== null) ?? null : null;
  return {
    host: o.host,
    environment: o.environment,
    reportedAt: (o.now ?? new Date()).toISOString(),
    current: o.current,
    previous: o.previous,
    health: o.health,
    currentDeployment: madeCurrent ? { id: madeCurrent.id, outcome: madeCurrent.outcome!, finishedAt: madeCurrent.finishedAt } : null,
    lastDeployment: last
      ? { id: last.id, kind: last.kind, releaseId: last.toId, version: last.toVersion, outcome: last.outcome, startedAt: last.startedAt, finishedAt: last.finishedAt, error: last.error }
      : null,
    failedRelease: o.failedRelease ?? null,
    channel: o.channel ? { releaseId: o.channel.releaseId, version: o.channel.version, when: o.channel.when } : null,
    ...(o.dataAge === undefined ? {} : { dataAge: o.dataAge }),
  };
}

/** Writes (replaces) this host's report. */
export async function writeHostStatus(store: BlobStore, app: string, env: string, host: string, report: HostStatusReport): Promise<void> {
  const { problem: _problem, ...stored } = report;
  await store.put(hostStatusKey(app, env, host), `${JSON.stringify({ ...stored, host, environment: env }, null, 2)}\n`);
}

/**
 * Every host's report, sorted by host name. A report that cannot be read is
 * still listed (health 'unknown', with `problem`), so no host silently disappears.
 */
export async function readHostStatuses(store: BlobStore, app: string, env: string): Promise<HostStatusReport[]> {
  const keys = (await store.list(statusPrefix(app, env))).filter((key) => key.endsWith('.json') && key.split('/').length === 4);
  const reports: HostStatusReport[] = [];
  for (const key of keys) {
    const host = key.split('/')[3]!.replace(/\.json$/, '');
    let problem: string;
    try {
      const bytes = await store.get(key);
      if (!bytes) continue;
      const parsed = reportSchema.safeParse(JSON.parse(bytes.toString('utf8')));
      if (parsed.success) {
        reports.push({ ...(parsed.data as HostStatusReport), host });
        continue;
      }
      const first = parsed.error.issues[0];
      problem = `malformed report: ${first?.path.join('.') || '(root)'}: ${first?.message}`;
    } catch (error) {
      if (error instanceof SlipwayError && error.code !== 'STORE_CHECKSUM_MISMATCH') throw error;
      problem = error instanceof SyntaxError ? 'the report is not valid JSON' : (error as Error).message;
    }
    reports.push({
      host,
      environment: env,
      reportedAt: '',
      current: null,
      previous: null,
      health: 'unknown',
      currentDeployment: null,
      lastDeployment: null,
      failedRelease: null,
      channel: null,
      problem,
    });
  }
  return reports;
}

/**
 * Why `releaseId` cannot count as having run healthy on this host, or null
 * when it did: it is current, healthy, and the deployment that made it
 * current succeeded (which includes its health window).
 */
export function unhealthyReason(report: HostStatusReport, releaseId: string): string | null {
  if (report.problem) return report.problem;
  if (report.current?.id !== releaseId) return report.current ? `runs ${report.current.version ?? report.current.id.slice(0, 12)} instead` : 'runs no release';
  if (report.currentDeployment?.outcome !== 'succeeded') return `its deployment there did not succeed (${report.currentDeployment?.outcome ?? 'unknown outcome'})`;
  if (report.health !== 'healthy') return `it is ${report.health}`;
  return null;
}
