/**
 * Versions and ranges, as release tags are written in the wild: `v2`, `1.10.0`,
 * `v2.1-rc.1`, `g5.130`, `release-12`, `2026.11.10`. A version is an optional word
 * prefix, numbers separated by dots, an optional pre-release (after `-`) and build
 * metadata (after `+`, ignored). Numbers compare as numbers (g5.96 < g5.130,
 * 1.2.0 < 1.10.0), missing parts are zero (v2 = 2.0.0), a pre-release sorts before
 * its release (semver). Only versions of the same scheme (same prefix; `v` and no
 * prefix are the same) compare. What is not comparable (a commit id, `main`, two
 * schemes) returns null: callers order those by build order (src/plan/plan.ts).
 */

export interface ParsedVersion {
  /** the word before the numbers, lowercased; '' for `v1.2` and `1.2` alike */
  prefix: string;
  numbers: number[];
  /** pre-release identifiers (after `-`), numbers where they are numeric; empty for a release */
  prerelease: Array<string | number>;
}

export type RangeOperator = '>=' | '>' | '<=' | '<' | '=';

export interface VersionComparator {
  operator: RangeOperator;
  version: string;
  parsed: ParsedVersion;
}

/** All comparators must hold (`>=2 <3`). */
export interface VersionRange {
  text: string;
  comparators: VersionComparator[];
}

// The prefix holds no digit, so the numbers always start at the first digit.
const VERSION_RE = /^([A-Za-z][A-Za-z_.-]*)?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;
/** `abc1234`, `3f9e0c2d1a`: what a short commit id looks like; a word prefix would make it read as a version. */
const COMMIT_ID_RE = /^(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,64}$/;

export function parseVersion(version: string): ParsedVersion | null {
  const text = version.trim();
  if (COMMIT_ID_RE.test(text)) return null;
  const match = VERSION_RE.exec(text);
  if (!match) return null;
  const numbers = match[2]!.split('.').map(Number);
  if (numbers.some((n) => !Number.isSafeInteger(n))) return null;
  const word = (match[1] ?? '').toLowerCase();
  const prerelease = match[3] === undefined ? [] : match[3].split('.').filter((part) => part !== '').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  return { prefix: word === 'v' ? '' : word, numbers, prerelease };
}

function compareParsed(a: ParsedVersion, b: ParsedVersion): number {
  const length = Math.max(a.numbers.length, b.numbers.length);
  for (let i = 0; i < length; i++) {
    const diff = (a.numbers[i] ?? 0) - (b.numbers[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  // A release is newer than any of its pre-releases (2.0.0-rc.1 < 2.0.0).
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return Math.sign(b.prerelease.length - a.prerelease.length);
  for (let i = 0; i < Math.min(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i]!;
    const y = b.prerelease[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return Math.sign(x - y);
    if (typeof x === 'number') return -1; // numeric identifiers sort before words (semver)
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

/** -1, 0 or 1; null when either is not a version, or they are of different schemes (then compare build order). */
export function compareVersions(a: string, b: string): number | null {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  return pa && pb && pa.prefix === pb.prefix ? compareParsed(pa, pb) : null;
}

/**
 * Parses a range: comparators separated by spaces or commas, all of which must
 * hold, e.g. `>=v2`, `>= 1.4.0 < 2`. A bare version means that version or newer
 * (`upgrade: { from: v2 }` reads "from v2 on"); `=v2` means exactly v2.
 */
export function parseVersionRange(text: string): { ok: true; range: VersionRange } | { ok: false; error: string } {
  const comparators: VersionComparator[] = [];
  const token = /\s*(>=|<=|>|<|=)?\s*([^\s,<>=]+)\s*,?/y;
  let at = 0;
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, error: 'the range is empty' };
  while (at < trimmed.length) {
    token.lastIndex = at;
    const match = token.exec(trimmed);
    if (!match || match[0] === '') return { ok: false, error: `cannot read "${trimmed.slice(at)}"` };
    const version = match[2]!;
    const parsed = parseVersion(version);
    if (!parsed) {
      const hint = /^[\^~]/.test(version) ? ` (^ and ~ are not supported: write >=${version.slice(1)} <next-major)` : '';
      return { ok: false, error: `"${version}" is not a version like v2, 1.4.0 or release-12${hint}` };
    }
    // Bounds of two schemes could never both be compared with one version.
    if (comparators.length > 0 && comparators[0]!.parsed.prefix !== parsed.prefix) {
      return { ok: false, error: `"${comparators[0]!.version}" and "${version}" are versions of different schemes` };
    }
    comparators.push({ operator: (match[1] as RangeOperator | undefined) ?? '>=', version, parsed });
    at = token.lastIndex;
  }
  return { ok: true, range: { text: trimmed, comparators } };
}

/** Whether `version` is in the range; null when `version` is not comparable with its bounds (not a version, another scheme). */
export function satisfiesRange(version: string, range: VersionRange): boolean | null {
  const parsed = parseVersion(version);
  if (!parsed || range.comparators.some((c) => c.parsed.prefix !== parsed.prefix)) return null;
  return range.comparators.every(({ operator, parsed: bound }) => {
    const order = compareParsed(parsed, bound);
    switch (operator) {
      case '>=':
        return order >= 0;
      case '>':
        return order > 0;
      case '<=':
        return order <= 0;
      case '<':
        return order < 0;
      case '=':
        return order === 0;
    }
  });
}
