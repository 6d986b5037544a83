/**
 * Gathers what createUpdatePlan needs from the real world: the host's current
 * release (ledger, read-only), the store's releases, the host's env file, free disk
 * and a backup size estimate. Reads only; never changes the host.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ConfigKeyConfig, EnvironmentConfig, LoadedProject } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import { readEnvFile } from '../host/app-env.js';
import { readInstalledManifest } from '../host/install-release.js';
import type { HostLayout } from '../host/layout.js';
import { openLedger } from '../host/ledger.js';
import type { BlobStore } from '../store/blob-store.js';
import { listReleases, readReleaseManifest, resolveRelease, type ReleaseInfo } from '../store/releases.js';
import { compareReleaseVersions, compareReleases, releasesBetween, type PlannedRelease, type UpdatePlanInput } from './plan.js';

/** The release the host serves, from its ledger (read-only); null on a host where nothing was deployed. */
export async function readCurrentRelease(layout: HostLayout): Promise<PlannedRelease | null> {
  const exists = await fs.stat(layout.ledgerFile).then(() => true, () => false);
  if (!exists) return null;
  const ledger = openLedger(layout.ledgerFile, { readonly: true });
  try {
    const { currentId } = ledger.getState();
    if (!currentId) return null;
    // The manifest lives beside the release, not in the ledger (it lists every file).
    const manifest = await readInstalledManifest(layout, currentId);
    if (!manifest) {
      throw new SlipwayError('CURRENT_RELEASE_UNKNOWN', `the host's current release ${currentId.slice(0, 12)} has no manifest on this host`, {
        hint: 'run `slipway verify` and `slipway status` to see what the host serves',
      });
    }
    return { ...manifest, id: currentId };
  } finally {
    ledger.close();
  }
}

/**
 * The store's releases strictly between current and target, oldest first. Manifests
 * are read only for releases whose version does not already rule them out.
 * `infos`: the store's list when the caller has it already.
 */
export async function storeReleasesBetween(o: {
  store: BlobStore;
  app: string;
  current: PlannedRelease | null;
  target: PlannedRelease;
  infos?: readonly ReleaseInfo[];
}): Promise<PlannedRelease[]> {
  const { current, target } = o;
  if (!current) return [];
  const candidates: PlannedRelease[] = [];
  for (const info of o.infos ?? (await listReleases(o.store, o.app))) {
    if (info.id === current.id || info.id === target.id) continue;
    const facts = { version: info.version, commit: info.commit, date: '', builtAt: info.createdAt };
    const afterCurrent = compareReleaseVersions(facts, current);
    const beforeTarget = compareReleaseVersions(facts, target);
    if ((afterCurrent !== null && afterCurrent < 0) || (beforeTarget !== null && beforeTarget > 0)) continue;
    candidates.push({ ...(await readReleaseManifest(o.store, o.app, info.id)), id: info.id, builtAt: info.createdAt });
  }
  return releasesBetween(candidates, current, target);
}

/** The release with its build order from the store's list, when the store has it. */
export function withBuildOrder(release: PlannedRelease, infos: readonly ReleaseInfo[]): PlannedRelease {
  const builtAt = infos.find((info) => info.id === release.id)?.createdAt;
  return builtAt === undefined ? release : { ...release, builtAt };
}

/** Free bytes for an unprivileged writer on the file system that holds `dir` (or would: the nearest existing parent). */
export async function freeBytesAt(dir: string): Promise<number> {
  let at = path.resolve(dir);
  for (;;) {
    try {
      const stats = await fs.statfs(at);
      return stats.bavail * stats.bsize;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path.dirname(at) === at) throw error;
      at = path.dirname(at);
    }
  }
}

/**
 * What a backup of the host's data takes: the shared folder (upload folders and
 * sqlite files live there). PostgreSQL and MySQL databases are not counted.
 */
export async function estimateBackupBytes(layout: HostLayout): Promise<number> {
  return folderSize(layout.sharedDir);
}

async function folderSize(dir: string): Promise<number> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0; // absent or unreadable: nothing we can count
  }
  let total = 0;
  for (const entry of entries) {
    const at = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await folderSize(at);
    else if (entry.isFile()) total += await fs.lstat(at).then((s) => s.size, () => 0);
  }
  return total;
}

/**
 * The config values the host would give a release: the env file, then the
 * environment for keys a schema names (what the agent does, src/host/app-env.ts).
 */
export function hostConfigValues(o: { envFile: Record<string, string>; schemas: ConfigKeyConfig[][]; processEnv: NodeJS.ProcessEnv }): Record<string, string> {
  const values: Record<string, string> = { ...o.envFile };
  for (const key of o.schemas.flat()) {
    const fromEnv = o.processEnv[key.name];
    if (values[key.name] === undefined && fromEnv !== undefined) values[key.name] = fromEnv;
  }
  return values;
}

export interface PlanUpdateOptions {
  project: LoadedProject;
  environment: EnvironmentConfig;
  layout: HostLayout;
  store: BlobStore;
  /** version or id in the store; default: the newest release (what `deploy` picks) */
  version?: string;
  kind?: 'deploy' | 'rollback';
  allowOlder?: boolean;
  /** the environment the agent would read config keys from (default: this process's) */
  processEnv?: NodeJS.ProcessEnv;
}

/** Everything createUpdatePlan needs, read from the host and the store. */
export async function gatherPlanInput(o: PlanUpdateOptions): Promise<UpdatePlanInput> {
  const app = o.project.config.app;
  const infos = await listReleases(o.store, app);
  const info = o.version ? await resolveRelease(o.store, app, o.version) : infos.at(-1);
  if (!info) {
    throw new SlipwayError('RELEASE_NOT_FOUND', `no releases of ${app} in ${o.store.description}`, { exitCode: 2, hint: 'build one with `slipway build`' });
  }
  const target: PlannedRelease = { ...(await readReleaseManifest(o.store, app, info.id)), id: info.id, builtAt: info.createdAt };
  const onHost = await readCurrentRelease(o.layout);
  const current = onHost && withBuildOrder(onHost, infos);
  const envFile = await readEnvFile(o.layout.envFile);
  return {
    environment: o.environment.name,
    kind: o.kind ?? 'deploy',
    allowOlder: o.allowOlder,
    healthWindowMs: o.environment.healthWindowMs,
    current,
    target,
    between: await storeReleasesBetween({ store: o.store, app, current, target, infos }),
    hostConfig: hostConfigValues({ envFile, schemas: [target.runtime.config, current?.runtime.config ?? []], processEnv: o.processEnv ?? process.env }),
    freeBytes: await freeBytesAt(o.layout.root),
    backupEstimateBytes: current ? await estimateBackupBytes(o.layout) : 0,
  };
}

/** `slipway plan`: the plan of updating the environment to `version` (default: the newest release). */

/**
 * The host facts the pipeline's preflight adds to what it already holds (current,
 * target, config values): both releases' build order, releases in between, free
 * disk, backup estimate.
 */
export async function pipelinePlanFacts(o: {
  layout: HostLayout;
  store: BlobStore;
  app: string;
  kind: 'deploy' | 'rollback';
  current: PlannedRelease | null;
  target: PlannedRelease;
  /** false: the update takes no backup (a code rollback), so the shared folder is not walked to size one */
  backsUp?: boolean;
}): Promise<Pick<UpdatePlanInput, 'current' | 'target' | 'between' | 'freeBytes' | 'backupEstimateBytes'>> {
  // Only a deploy looks at the store (it just fetched from it): a rollback must work while the store is unreachable.
  // Unreachable store: no build order and no releases in between; an update that needs them is still refused, less precisely.
  const infos = o.kind === 'deploy' && o.current !== null ? await listReleases(o.store, o.app).catch(() => null) : null;
  const current = o.current && withBuildOrder(o.current, infos ?? []);
  const target = withBuildOrder(o.target, infos ?? []);
  const upgrading = current !== null && compareReleases(target, current) > 0;
  return {
    current,
    target,
    between: upgrading ? await storeReleasesBetween({ ...o, current, target, infos: infos ?? undefined }).catch(() => []) : [],
    freeBytes: await freeBytesAt(o.layout.root),
    backupEstimateBytes: current && o.backsUp !== false ? await estimateBackupBytes(o.layout) : 0,
  };
}
