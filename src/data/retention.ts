/**
 * Which backups a retention policy keeps (pure: no clock, no disk).
 *
 * A backup is kept when any rule keeps it:
 * - last N: the N newest;
 * - daily D: the newest backup of each UTC calendar day, for the D days ending with
 *   `now`'s day (today counts as one);
 * - weekly W: the newest backup of each ISO week (Monday to Sunday, UTC), for the W
 *   weeks ending with `now`'s week;
 * - always: the newest verified backup, every protected id (one an unfinished update
 *   or a `rollback --with-data` may need), anything dated after `now` (a clock that
 *   stepped back must not delete new backups), and anything whose date cannot be read.
 * Everything else is pruned.
 */

export interface RetentionPolicy {
  last: number;
  daily: number;
  weekly: number;
}

export interface RetainableBackup {
  id: string;
  /** ISO 8601 */
  createdAt: string;
  verifiedAt: string | null;
}

export type KeepReason = 'last' | 'daily' | 'weekly' | 'newest-verified' | 'protected' | 'future' | 'undated';

export interface RetentionDecision<T extends RetainableBackup> {
  /** newest first */
  keep: Array<{ backup: T; reasons: KeepReason[] }>;
  /** newest first */
  prune: T[];
}

const DAY_MS = 86_400_000;

/** Days since the epoch of the UTC calendar day holding `ms`. */
function dayNumber(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** Day number of the Monday starting the ISO week that holds `ms` (UTC). */
function weekNumber(ms: number): number {
  const day = dayNumber(ms);
  // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
  const sinceMonday = (((day + 3) % 7) + 7) % 7;
  return day - sinceMonday;
}

export function selectBackupsToPrune<T extends RetainableBackup>(
  backups: readonly T[],
  policy: RetentionPolicy,
  now: Date,
  protectedIds: Iterable<string> = [],
): RetentionDecision<T> {
  const nowMs = now.getTime();
  const protectedSet = new Set(protectedIds);
  const dated = backups.map((backup) => ({ backup, ms: Date.parse(backup.createdAt) }));
  // Newest first; equal times by id (ids sort by time too), so the result does not depend on input order.
  dated.sort((a, b) => (Number.isNaN(b.ms) ? 0 : b.ms) - (Number.isNaN(a.ms) ? 0 : a.ms) || (a.backup.id < b.backup.id ? 1 : a.backup.id > b.backup.id ? -1 : 0));

  const reasons = new Map<T, KeepReason[]>();
  const keep = (backup: T, reason: KeepReason) => {
    const list = reasons.get(backup) ?? [];
    if (!list.includes(reason)) list.push(reason);
    reasons.set(backup, list);
  };

  const valid = dated.filter((d) => !Number.isNaN(d.ms));
  for (const d of dated) {
    if (Number.isNaN(d.ms)) keep(d.backup, 'undated');
    else if (d.ms > nowMs) keep(d.backup, 'future');
    if (protectedSet.has(d.backup.id)) keep(d.backup, 'protected');
  }

  valid.slice(0, Math.max(0, policy.last)).forEach((d) => keep(d.backup, 'last'));

  const bucketed = (bucketOf: (ms: number) => number, first: number, reason: KeepReason) => {
    const seen = new Set<number>();
    for (const d of valid) {
      if (d.ms > nowMs) continue;
      const bucket = bucketOf(d.ms);
      if (bucket < first || seen.has(bucket)) continue;
      seen.add(bucket);
      keep(d.backup, reason); // the first seen is the newest of its bucket
    }
  };
  if (policy.daily > 0) bucketed(dayNumber, dayNumber(nowMs) - (policy.daily - 1), 'daily');
  if (policy.weekly > 0) bucketed(weekNumber, weekNumber(nowMs) - 7 * (policy.weekly - 1), 'weekly');

  const newestVerified = valid.find((d) => d.backup.verifiedAt !== null && d.ms <= nowMs);
  if (newestVerified) keep(newestVerified.backup, 'newest-verified');

  const decision: RetentionDecision<T> = { keep: [], prune: [] };
  for (const { backup } of dated) {
    const why = reasons.get(backup);
    if (why) decision.keep.push({ backup, reasons: why });
    else decision.prune.push(backup);
  }
  return decision;
}
