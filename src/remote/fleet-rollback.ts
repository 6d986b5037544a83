/**
 * Rolling back a whole fleet: every host, in reverse dependency order (the apps
 * before the auth service they need). Unlike a rollout, a host that fails does not
 * stop the others: a fleet half rolled back is worse. Like rollout.ts, this module
 * only orders the work and keeps the score; a RollbackHost does it on each host.
 */
import { performance } from 'node:perf_hooks';
import { SlipwayError, usageError } from '../errors.js';
import { attempt, messageOf, type HostState } from './rollout.js';
import type { RemoteSlipway } from './remote-slipway.js';

export interface FleetRollbackRequest {
  /** a version to go back to; default: the release before the current one */
  to?: string;
  /** restore the data from before the update too */
  withData?: boolean;
  /** recorded in each host's history; default: "rollback" (plus " to <version>") */
  reason?: string;
}

/** One host, as the fleet rollback sees it. */
export interface RollbackHost {
  readonly name: string;
  status(): Promise<HostState>;
  /**
   * Rolls the host back; resolves once the target serves. A host that refuses before
   * changing anything (a request it cannot do, e.g. --with-data with no backup) rejects
   * with a SlipwayError of exit code 2; any other failure rejects otherwise.
   */
  rollback(request: Required<Pick<FleetRollbackRequest, 'reason'>> & FleetRollbackRequest, onLine: (line: string) => void): Promise<void>;
}

export interface FleetRollbackRow {
  host: string;
  from: string | null;
  to: string | null;
  outcome: 'rolled back' | 'failed';
  durationMs: number;
  reason?: string;
  /** the host refused before changing anything (its exit code 2: a request it cannot do, e.g. --with-data with no backup) */
  refused?: boolean;
  hint?: string;
}

export interface FleetRollbackSummary {
  /** every host rolled back */
  ok: boolean;
  /** every host refused, so nothing changed anywhere */
  refused: boolean;
  /** in the order the hosts were rolled back */
  rows: FleetRollbackRow[];
}

/** Every event carries `message`, a plain line the CLI can print as it is. */
export type FleetRollbackEvent = { message: string } & (
  | { type: 'host-started'; host: string; from: string | null }
  | { type: 'host-progress'; host: string; line: string }
  | { type: 'host-refused'; host: string; reason: string }
  | { type: 'host-failed'; host: string; reason: string }
);

/**
 * The hosts to roll back, in reverse dependency order: `levels` from orderFleet,
 * kept to `selected`. HOST_UNKNOWN (exit code 2) when none is left.
 */
export function rollbackOrder(levels: string[][], selected: string[]): string[] {
  const order = levels
    .flat()
    .reverse()
    .filter((name) => selected.includes(name));
  if (order.length === 0) throw usageError('HOST_UNKNOWN', 'no host to roll back');
  return order;
}

/** Rolls back each host of `order` in turn. Never rejects for a host's failure: that is in the summary. */
export async function runFleetRollback(o: { order: string[]; hosts: Map<string, RollbackHost>; request: FleetRollbackRequest; onEvent?: (event: FleetRollbackEvent) => void }): Promise<FleetRollbackSummary> {
  const { request } = o;
  const reason = request.reason ?? `rollback${request.to ? ` to ${request.to}` : ''}`;
  const emit = (event: FleetRollbackEvent) => {
    try {
      o.onEvent?.(event);
    } catch {
      // A listener that fails (a closed stdout) must not leave the fleet half rolled back.
    }
  };
  const rows: FleetRollbackRow[] = [];
  for (const name of o.order) {
    const host = o.hosts.get(name);
    const started = performance.now();
    let from: string | null = null;
    try {
      if (!host) throw new SlipwayError('HOST_UNKNOWN', `no connection for host ${name}`);
      from = (await attempt(() => host.status())).current?.version ?? null;
      emit({ type: 'host-started', host: name, from, message: `${name}: rolling back from ${from ?? 'nothing'}` });
      try {
        await attempt(() => host.rollback({ ...request, reason }, (line) => emit({ type: 'host-progress', host: name, line, message: `  ${name} | ${line}` })));
      } catch (error) {
        if (!(error instanceof SlipwayError && error.exitCode === 2)) throw error;
        const why = messageOf(error);
        rows.push({ host: name, from, to: from, outcome: 'failed', durationMs: performance.now() - started, reason: why, refused: true, ...(error.hint ? { hint: error.hint } : {}) });
        emit({ type: 'host-refused', host: name, reason: why, message: `${name}: rollback refused: ${why}` });
        continue;
      }
      const after = await attempt(() => host.status());
      rows.push({ host: name, from, to: after.current?.version ?? null, outcome: 'rolled back', durationMs: performance.now() - started });
    } catch (error) {
      const why = messageOf(error);
      rows.push({ host: name, from, to: null, outcome: 'failed', durationMs: performance.now() - started, reason: why });
      emit({ type: 'host-failed', host: name, reason: why, message: `${name}: rollback failed: ${why}` });
    }
  }
  return {
    ok: rows.every((r) => r.outcome === 'rolled back'),
    refused: rows.length > 0 && rows.every((r) => r.refused),
    rows,
  };
}

/** A host reached over SSH: the same `slipway status` and `slipway rollback` a person would run there. */
export function remoteRollbackHost(remote: RemoteSlipway): RollbackHost {
  const env = remote.environment;
  return {
    name: remote.name,
    async status() {
      const status = await remote.slipwayJson<{ current: { id: string; version: string } | null }>(['status', env]);
      return { current: status.current ? { id: status.current.id, version: status.current.version } : null };
    },
    async rollback(request, onLine) {
      const args = ['rollback', env, '--yes', '--reason', request.reason];
      if (request.to) args.push('--to', request.to);
      if (request.withData) args.push('--with-data');
      const result = await remote.slipway(args, { onStderrLine: onLine });
      if (result.exitCode === 0) return;
      const failure = remote.failure(['rollback'], result);
      // Exit code 2 on the host: it refused before changing anything.
      if (result.exitCode !== 2) throw failure;
      throw new SlipwayError(failure.code, failure.message, { exitCode: 2, details: failure.details, cause: failure, ...(failure.hint ? { hint: failure.hint } : {}) });
    },
  };
}
