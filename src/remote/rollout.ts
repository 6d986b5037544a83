/**
 * A fleet rollout, independent of how hosts are reached: check every host, back up
 * every host, make the release available everywhere, then update level by level;
 * on the first failure stop and roll back, newest first, what this rollout updated.
 * Drivers do the work on each host; this module only orders it and keeps the score.
 */
import { performance } from 'node:perf_hooks';
import { SlipwayError, redactSecrets } from '../errors.js';

export interface HostState {
  current: { id: string; version: string } | null;
}

export interface HostDriver {
  readonly name: string;
  status(): Promise<HostState>;
  /**
   * a verified backup of the host's databases and folders, before anything changes anywhere;
   * `skipped` (why) when the release serving there declares none: a stateless app is not a failure
   */
  backup(): Promise<{ id: string } | { skipped: string }>;
  /** makes the release available on the host; 'present' = nothing sent */
  ensureRelease(): Promise<'present' | 'pulled' | 'streamed'>;
  /**
   * deploys the target; resolves only when it serves and passed its health window; rejects otherwise (the host's own pipeline has already put its previous release back).
   * `backup`: the one backup() took, for the host's update to use as its own instead of backing up again. `migrated` = the update changed data; `backupReused` = it used that backup.
   */
  deploy(onProgress: (line: string) => void, options: { backup: string | null }): Promise<{ migrated: boolean; backupReused?: boolean }>;
  /** puts back what served before this rollout (with data when asked) */
  rollback(options: { toVersion: string | null; withData: boolean }): Promise<void>;
}

export type RolloutOutcome = 'updated' | 'unchanged' | 'failed' | 'rolled back' | 'rollback failed' | 'not started' | 'unreachable';

export interface RolloutRow {
  host: string;
  /** The version the host served before the rollout (null: none yet, or unknown when unreachable). */
  from: string | null;
  to: string;
  outcome: RolloutOutcome;
  /** Time spent updating this host, plus rolling it back when that happened. */
  durationMs: number;
  reason?: string;
  /** The id of the backup taken before the rollout, or NO_RELEASE_YET, or NO_DATA. */
  backup?: string;
  /** How the release reached the host. */
  transfer?: 'present' | 'pulled' | 'streamed';
  /** Whether the host's update changed data (set once its deploy succeeded). */
  migrated?: boolean;
  /** Whether the host's update took `backup` as its own (false: it found it unfit and took a fresh one). */
  backupReused?: boolean;
}

export interface RolloutSummary {
  ok: boolean;
  failedHost: string | null;
  reason: string | null;
  /** In fleet order. */
  rows: RolloutRow[];
  /** Hosts in the order their update finished successfully. */
  order: string[];
  target: { id: string; version: string };
  durationMs: number;
}

/** Every event carries `message`, a plain line the CLI can print as it is. */
export type RolloutEvent = { message: string } & (
  | { type: 'host-reachable'; host: string; current: HostState['current'] }
  | { type: 'host-unreachable'; host: string; reason: string }
  | { type: 'backup-done'; host: string; backup: string }
  | { type: 'backup-skipped'; host: string; reason: string }
  | { type: 'backup-failed'; host: string; reason: string }
  | { type: 'release-ready'; host: string; transfer: 'present' | 'pulled' | 'streamed' }
  | { type: 'release-failed'; host: string; reason: string }
  | { type: 'level-started'; level: number; hosts: string[] }
  | { type: 'host-unchanged'; host: string }
  | { type: 'host-started'; host: string; from: string | null; to: string }
  | { type: 'host-progress'; host: string; line: string }
  | { type: 'host-done'; host: string; migrated: boolean; durationMs: number }
  | { type: 'host-failed'; host: string; reason: string }
  | { type: 'rollout-stopped'; host: string; reason: string; rollingBack: string[] }
  | { type: 'rollback-started'; host: string; toVersion: string | null; withData: boolean }
  | { type: 'rollback-done'; host: string }
  | { type: 'rollback-failed'; host: string; reason: string }
);

export interface RolloutOptions {
  /** From orderFleet: every host of a level depends only on hosts of earlier levels. */
  levels: string[][];
  drivers: Map<string, HostDriver>;
  /** How many hosts of one level update at once (>= 1); also bounds backups and transfers. */
  parallel: number;
  target: { id: string; version: string };
  onEvent?: (event: RolloutEvent) => void;
}

/** Recorded as a row's backup when the host had no release, so nothing needed saving. */
export const NO_RELEASE_YET = 'no release yet';
/** Recorded as a row's backup when the host's release declares no databases or folders. */
export const NO_DATA = 'no data';

/**
 * Never rejects for a host's failure: that is in the summary (`ok: false`).
 * Rejects only for options that cannot describe a rollout (ROLLOUT_OPTIONS, exit code 2).
 */
export async function runRollout(options: RolloutOptions): Promise<RolloutSummary> {
  const startedAt = performance.now();
  const { levels, drivers, parallel, target } = options;
  const hosts = checkOptions(options);
  const driverOf = (host: string) => drivers.get(host)!;
  const emit = (event: RolloutEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // A listener that fails (a closed stdout) must not leave the fleet half updated.
    }
  };

  const rows = new Map<string, RolloutRow>(hosts.map((host) => [host, { host, from: null, to: target.version, outcome: 'not started', durationMs: 0 }]));
  const row = (host: string) => rows.get(host)!;
  const order: string[] = [];
  let failure: { host: string; reason: string } | null = null;
  const fail = (host: string, reason: string) => {
    failure ??= { host, reason };
  };
  const stopped = () => failure !== null;
  const summary = (): RolloutSummary => ({
    ok: failure === null,
    failedHost: failure?.host ?? null,
    reason: failure?.reason ?? null,
    rows: hosts.map(row),
    order,
    target,
    durationMs: performance.now() - startedAt,
  });

  // 1. Preflight: every host answers before anything starts anywhere.
  const currents = new Map<string, HostState['current']>();
  const states = await Promise.allSettled(hosts.map((host) => attempt(() => driverOf(host).status())));
  states.forEach((result, i) => {
    const host = hosts[i]!;
    if (result.status === 'fulfilled') {
      const current = result.value.current;
      currents.set(host, current);
      row(host).from = current?.version ?? null;
      emit({ type: 'host-reachable', host, current, message: `${host}: reachable, serving ${current ? current.version : 'nothing yet'}` });
    } else {
      const reason = messageOf(result.reason);
      Object.assign(row(host), { outcome: 'unreachable', reason });
      fail(host, reason);
      emit({ type: 'host-unreachable', host, reason, message: `${host}: unreachable: ${reason}` });
    }
  });
  if (stopped()) return summary();

  // 2. Back up every host before any host changes.
  await runPool(hosts, parallel, stopped, async (host) => {
    if (!currents.get(host)) {
      row(host).backup = NO_RELEASE_YET;
      emit({ type: 'backup-skipped', host, reason: 'no release yet', message: `${host}: no release yet, nothing to back up` });
      return;
    }
    try {
      const result = await attempt(() => driverOf(host).backup());
      if ('skipped' in result) {
        row(host).backup = NO_DATA;
        emit({ type: 'backup-skipped', host, reason: result.skipped, message: `${host}: nothing to back up (${result.skipped})` });
        return;
      }
      row(host).backup = result.id;
      emit({ type: 'backup-done', host, backup: result.id, message: `${host}: backed up (${result.id})` });
    } catch (error) {
      const reason = `backup failed: ${messageOf(error)}`;
      Object.assign(row(host), { outcome: 'failed', reason });
      fail(host, reason);
      emit({ type: 'backup-failed', host, reason, message: `${host}: ${reason}` });
    }
  });
  if (stopped()) return summary();

  // 3. The release on every host, so no update waits on a transfer halfway through.
  await runPool(hosts, parallel, stopped, async (host) => {
    try {
      const transfer = await attempt(() => driverOf(host).ensureRelease());
      row(host).transfer = transfer;
      const how = { present: 'already present', pulled: 'pulled from the store', streamed: 'streamed to the host' }[transfer] ?? transfer;
      emit({ type: 'release-ready', host, transfer, message: `${host}: release ${target.version} ${how}` });
    } catch (error) {
      const reason = `release transfer failed: ${messageOf(error)}`;
      Object.assign(row(host), { outcome: 'failed', reason });
      fail(host, reason);
      emit({ type: 'release-failed', host, reason, message: `${host}: ${reason}` });
    }
  });
  if (stopped()) return summary();

  // 4. Level by level; a level starts only when every host of the one before is healthy.
  const updated: { host: string; from: string | null; migrated: boolean }[] = [];
  for (const [index, level] of levels.entries()) {
    if (stopped()) break;
    emit({ type: 'level-started', level: index, hosts: level, message: `level ${index + 1} of ${levels.length}: ${level.join(', ')}` });
    const pending: string[] = [];
    for (const host of level) {
      if (currents.get(host)?.id === target.id) {
        row(host).outcome = 'unchanged';
        emit({ type: 'host-unchanged', host, message: `${host}: already on ${target.version}, skipped` });
      } else {
        pending.push(host);
      }
    }
    await runPool(pending, parallel, stopped, async (host) => {
      const from = currents.get(host)?.version ?? null;
      emit({ type: 'host-started', host, from, to: target.version, message: `${host}: updating ${from ?? '(none)'} → ${target.version}` });
      const began = performance.now();
      try {
        const backup = row(host).backup;
        const ownBackup = backup !== undefined && backup !== NO_DATA && backup !== NO_RELEASE_YET ? backup : null;
        const result = await attempt(() =>
          driverOf(host).deploy((line) => emit({ type: 'host-progress', host, line, message: `${host}: ${line}` }), { backup: ownBackup }),
        );
        const migrated = result?.migrated === true;
        const durationMs = performance.now() - began;
        Object.assign(row(host), { outcome: 'updated', durationMs, migrated }, result?.backupReused === undefined ? {} : { backupReused: result.backupReused });
        updated.push({ host, from, migrated });
        order.push(host);
        const backupNote = result?.backupReused === undefined ? '' : result.backupReused ? `; its backup: ${ownBackup}, taken first` : '; it took a fresh backup';
        emit({ type: 'host-done', host, migrated, durationMs, message: `${host}: ${target.version} serving and healthy (${seconds(durationMs)}${backupNote})` });
      } catch (error) {
        const reason = messageOf(error);
        Object.assign(row(host), { outcome: 'failed', reason, durationMs: performance.now() - began });
        fail(host, reason);
        emit({ type: 'host-failed', host, reason, message: `${host}: update failed: ${reason}` });
      }
    });
  }

  // 5. Undo, newest first; one host's failed rollback does not keep the others from theirs.
  if (failure !== null) {
    const { host: failedHost, reason: failedReason } = failure;
    const rollingBack = updated.map((u) => u.host).reverse();
    emit({
      type: 'rollout-stopped',
      host: failedHost,
      reason: failedReason,
      rollingBack,
      message: rollingBack.length
        ? `rollout stopped at ${failedHost}; rolling back ${rollingBack.join(', ')}`
        : `rollout stopped at ${failedHost}; no host was updated, nothing to roll back`,
    });
    for (const { host, from, migrated } of [...updated].reverse()) {
      const request = { toVersion: from, withData: migrated };
      emit({ type: 'rollback-started', host, ...request, message: `${host}: rolling back to ${from ?? '(none)'}${migrated ? ' with data' : ''}` });
      const began = performance.now();
      try {
        await attempt(() => driverOf(host).rollback(request));
        row(host).outcome = 'rolled back';
        emit({ type: 'rollback-done', host, message: `${host}: rolled back to ${from ?? '(none)'}` });
      } catch (error) {
        const reason = messageOf(error);
        Object.assign(row(host), { outcome: 'rollback failed', reason });
        emit({ type: 'rollback-failed', host, reason, message: `${host}: rollback failed: ${reason}` });
      }
      row(host).durationMs += performance.now() - began;
    }
  }
  return summary();
}

/** The hosts in fleet order, once the options are known to describe a rollout. */
function checkOptions({ levels, drivers, parallel }: RolloutOptions): string[] {
  const invalid = (message: string, hint: string) => new SlipwayError('ROLLOUT_OPTIONS', message, { exitCode: 2, hint });
  if (!Number.isInteger(parallel) || parallel < 1) {
    throw invalid(`--parallel must be a whole number of at least 1 (got ${parallel}).`, 'Use --parallel 1 to update one host at a time.');
  }
  const hosts = levels.flat();
  const duplicate = hosts.find((host, i) => hosts.indexOf(host) !== i);
  if (duplicate !== undefined) throw invalid(`Host "${duplicate}" appears twice in the rollout order.`, 'Build the levels with orderFleet.');
  const missing = hosts.filter((host) => !drivers.has(host));
  if (missing.length) throw invalid(`No connection for host(s) ${missing.join(', ')}.`, 'Every host in the rollout order needs a driver.');
  return hosts;
}

/** Runs `work` over items, at most `limit` at once, starting none once `stopped()`; waits for those started. */
async function runPool<T>(items: T[], limit: number, stopped: () => boolean, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length && !stopped()) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** A driver that throws instead of rejecting is treated the same. Shared with fleet-rollback.ts. */
export function attempt<T>(call: () => Promise<T>): Promise<T> {
  return Promise.resolve().then(call);
}

/** A host's failure as a line: its message, with secrets taken out. */
export function messageOf(error: unknown): string {
  return redactSecrets(error instanceof Error ? error.message : String(error));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
