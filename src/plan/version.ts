/**
 * Semver-ish versions and ranges, as release tags are written in the wild:
 * `v2`, `1.10.0`, `v2.1-rc.1`. Numbers compare as numbers (v2 < v10, 1.2.0 < 1.10.0),
 * missing parts are zero (v2 = 2.0.0), a pre-release sorts before its release.
 * A version that does not look like one (a short commit id) is not comparable:
 * callers fall back to commit dates.
 */

export interface ParsedVersion {
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

const VERSION_RE = /^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseVersion(version: string): ParsedVersion | null {
  const match = VERSION_RE.exec(version.trim());
  if (!match) return null;
  const numbers = match[1]!.split('.').map(Number);
  if (numbers.some((n) => !Number.isSafeInteger(n))) return null;
  const prerelease = match[2] === undefined ? [] : match[2].split('.').filter((part) => part !== '').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  return { numbers, prerelease };
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

/** -1, 0 or 1; null when either is not a version (then compare something else, like commit dates). */
export function compareVersions(a: string, b: string): number | null {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  return pa && pb ? compareParsed(pa, pb) : null;
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
      return { ok: false, error: `"${version}" is not a version like v2 or 1.4.0${hint}` };
    }
    comparators.push({ operator: (match[1] as RangeOperator | undefined) ?? '>=', version, parsed });
    at = token.lastIndex;
  }
  return { ok: true, range: { text: trimmed, comparators } };
}

/** Whether `version` is in the range; null when `version` is not comparable. */
export function satisfiesRange(version: string, range: VersionRange): boolean | null {
  const parsed = parseVersion(version);
  if (!parsed) return null;
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
