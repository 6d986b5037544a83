import { usageError } from '../errors.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { closeHosts, connectHosts, fleetLevels, selectHosts } from './fleet.js';
import { formatTable } from '../util/format.js';
import { confirmOrRefuse } from './prompt.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

export interface FleetRollbackOptions {
  to?: string;
  withData?: boolean;
  yes?: boolean;
  reason?: string;
  host?: string;
  json?: boolean;
}

interface RollbackRow {
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

/**
 * Rolls back every host of a remote environment, in reverse dependency order
 * (the apps before the auth service they need). A host that fails is reported;
 * the others still go back, since a fleet half rolled back is worse.
 */
export async function rollbackFleet(o: { project: LoadedProject; environment: EnvironmentConfig; options: FleetRollbackOptions }, ctx: CliContext): Promise<CommandResult> {
  const { project, environment, options } = o;
  const hosts = selectHosts(environment, options.host);
  const order = fleetLevels(environment)
    .flat()
    .reverse()
    .filter((name) => hosts.some((h) => h.name === name));
  if (order.length === 0) throw usageError('HOST_UNKNOWN', 'no host to roll back');
  const go = await confirmOrRefuse(ctx, {
    yes: options.yes,
    question: `Roll ${environment.name} back on ${order.join(', ')} (in that order) to ${options.to ?? 'the previous release'}${options.withData ? ', restoring the data from before the update' : ''}?`,
    what: 'rollback',
  });
  if (!go) return { stdout: 'nothing changed', exitCode: 1 };
  const remotes = await connectHosts(project, environment, hosts, ctx);
  const rows: RollbackRow[] = [];
  try {
    for (const name of order) {
      const remote = remotes.find((r) => r.name === name)!;
      const started = performance.now();
      let from: string | null = null;
      try {
        const before = await remote.slipwayJson<{ current: { version: string } | null }>(['status', environment.name]);
        from = before.current?.version ?? null;
        ctx.progress(`${name}: rolling back from ${from ?? 'nothing'}`);
        const args = ['rollback', environment.name, '--yes', '--reason', options.reason ?? `rollback${options.to ? ` to ${options.to}` : ''}`];
        if (options.to) args.push('--to', options.to);
        if (options.withData) args.push('--with-data');
        const result = await remote.slipway(args, { onStderrLine: (line) => ctx.progress(`  ${name} | ${line}`) });
        if (result.exitCode !== 0) {
          const failure = remote.failure(['rollback'], result);
          if (result.exitCode === 2) {
            rows.push({ host: name, from, to: from, outcome: 'failed', durationMs: performance.now() - started, reason: failure.message, refused: true, ...(failure.hint ? { hint: failure.hint } : {}) });
            ctx.progress(`${name}: rollback refused: ${failure.message}`);
            continue;
          }
          throw failure;
        }
        const after = await remote.slipwayJson<{ current: { version: string } | null }>(['status', environment.name]);
        rows.push({ host: name, from, to: after.current?.version ?? null, outcome: 'rolled back', durationMs: performance.now() - started });
      } catch (error) {
        rows.push({ host: name, from, to: null, outcome: 'failed', durationMs: performance.now() - started, reason: (error as Error).message });
        ctx.progress(`${name}: rollback failed: ${(error as Error).message}`);
      }
    }
  } finally {
    await closeHosts(remotes);
  }
  const ok = rows.every((r) => r.outcome === 'rolled back');
  // Every host refused, so nothing changed anywhere: a usage error, as the same request is on one host.
  const refused = rows.length > 0 && rows.every((r) => r.refused);
  const exitCode = ok ? 0 : refused ? 2 : 1;
  if (options.json) return { ...jsonOutput({ ok, rows }), exitCode };
  const table = formatTable(['HOST', 'FROM', 'TO', 'OUTCOME', 'DURATION'], rows.map((r) => [r.host, r.from ?? '-', r.to ?? '-', r.outcome, `${(r.durationMs / 1000).toFixed(1)}s`]));
  const failures = rows.filter((r) => r.reason).map((r) => `${r.host}: ${r.reason}`);
  const hints = [...new Set(rows.flatMap((r) => (r.hint ? [r.hint] : [])))];
  const verdict = ok ? `${environment.name}: every host rolled back.` : refused ? `Every host refused; nothing changed:` : `Rollback incomplete:`;
  return { stdout: [table, '', verdict, ...failures.map((f) => `  ${f}`), ...hints.map((h) => `hint: ${h}`)].join('\n'), exitCode };
}
