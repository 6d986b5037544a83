/** Which release may be deployed over which (a release's upgrade.from), and the path of releases that reaches a target. */
import { parseVersionRange, satisfiesRange } from '../util/version.js';
import type { PlannedRelease } from './plan-types.js';
import { compareReleases, isCommitNamed } from './release-order.js';

/**
 * Whether `to` may be deployed over `from`. A `from` whose version is not
 * comparable with the range (a short commit id, another tag scheme) is placed
 * against the oldest known release that satisfies the range, by build order.
 */
export function isReachable(from: PlannedRelease, to: PlannedRelease, known: readonly PlannedRelease[]): boolean {
  if (to.upgradeFrom === undefined) return true;
  const parsed = parseVersionRange(to.upgradeFrom);
  if (!parsed.ok) return false;
  const satisfied = isCommitNamed(from) ? null : satisfiesRange(from.version, parsed.range);
  if (satisfied !== null) return satisfied;
  const oldestSatisfying = known
    .filter((r) => r.id !== to.id && !isCommitNamed(r) && satisfiesRange(r.version, parsed.range) === true)
    .sort(compareReleases)[0];
  return oldestSatisfying !== undefined && compareReleases(from, oldestSatisfying) >= 0;
}

/** Greedy: from where the host is, the newest release it can reach, until the target is reachable. */
export function findUpgradePath(current: PlannedRelease, target: PlannedRelease, between: PlannedRelease[], known: PlannedRelease[]): string[] | null {
  const path: string[] = [];
  let at = current;
  for (let hops = 0; hops <= between.length; hops++) {
    if (isReachable(at, target, known)) return [...path, target.version];
    const next = between.filter((r) => compareReleases(r, at) > 0 && isReachable(at, r, known)).at(-1);
    if (!next) return null;
    path.push(next.version);
    at = next;
  }
  return null;
}
