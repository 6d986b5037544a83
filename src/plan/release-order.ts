/**
 * How releases order: by version when versions compare, else by build order in the
 * store, else by commit date; and which releases lie between two others.
 */
import type { ReleaseManifest } from '../release/manifest.js';
import { compareVersions } from '../util/version.js';
import type { PlannedRelease } from './plan-types.js';

/** What ordering two releases looks at. */
export type ReleaseOrderFacts = Pick<ReleaseManifest, 'version' | 'date'> & Partial<Pick<PlannedRelease, 'id' | 'commit' | 'builtAt'>>;

/**
 * A release built without --version is named by its short commit id: that names no
 * place in an order, even when the id happens to be all digits.
 */
export function isCommitNamed(r: { version: string; commit?: string }): boolean {
  return r.commit !== undefined && r.version.length >= 7 && r.commit.toLowerCase().startsWith(r.version.toLowerCase());
}

/** -1, 0 or 1 by version alone; null when the versions do not compare (a commit id, two tag schemes). */
export function compareReleaseVersions(a: ReleaseOrderFacts, b: ReleaseOrderFacts): number | null {
  if (isCommitNamed(a) || isCommitNamed(b)) return null;
  return compareVersions(a.version, b.version);
}

/**
 * Newer release first: by version when both versions compare, else (or on a tie)
 * by build order in the store. Commit dates decide only when the build order is
 * not known (a release no longer in the store, a store out of reach): a hotfix
 * committed after the next release, or two tags of one second, would misorder.
 * Negative when a is older than b.
 */
export function compareReleases(a: ReleaseOrderFacts, b: ReleaseOrderFacts): number {
  if (a.id !== undefined && a.id === b.id) return 0;
  const byVersion = compareReleaseVersions(a, b);
  if (byVersion !== null && byVersion !== 0) return byVersion;
  const builtA = a.builtAt === undefined ? NaN : Date.parse(a.builtAt);
  const builtB = b.builtAt === undefined ? NaN : Date.parse(b.builtAt);
  if (!Number.isNaN(builtA) && !Number.isNaN(builtB)) return Math.sign(builtA - builtB);
  return Math.sign(Date.parse(a.date) - Date.parse(b.date));
}

/** How two releases were ordered, for messages: people must be able to check the claim. */
export function orderBasis(a: ReleaseOrderFacts, b: ReleaseOrderFacts): string {
  const byVersion = compareReleaseVersions(a, b);
  if (byVersion !== null && byVersion !== 0) return 'by version';
  const known = a.builtAt !== undefined && b.builtAt !== undefined;
  const why = byVersion === 0 ? 'the versions are equal' : 'the versions do not compare';
  return known ? `${why}, so by build order in the store` : `${why} and the store's build order is unknown, so by commit date`;
}

/**
 * The releases strictly between current and target, oldest first, one per version
 * (the last one given wins: pass the store's list oldest-published first).
 */
export function releasesBetween<T extends PlannedRelease>(all: readonly T[], current: PlannedRelease | null, target: PlannedRelease): T[] {
  if (!current) return [];
  const byVersion = new Map<string, T>();
  for (const release of all) {
    if (release.id === current.id || release.id === target.id) continue;
    if (release.version === current.version || release.version === target.version) continue;
    if (compareReleases(release, current) > 0 && compareReleases(release, target) < 0) byVersion.set(release.version, release);
  }
  return [...byVersion.values()].sort(compareReleases);
}
