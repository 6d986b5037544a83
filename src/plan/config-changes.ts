/** The config keys an update adds, removes, seemingly renames, and needs without the host having them. */
import { closestMatch } from '../config/did-you-mean.js';
import type { UpdatePlan, UpdatePlanInput } from './plan-types.js';

export function configChanges(input: UpdatePlanInput): UpdatePlan['config'] {
  const targetKeys = input.target.runtime.config;
  const targetNames = new Set(targetKeys.map((k) => k.name));
  const currentNames = new Set((input.current?.runtime.config ?? []).map((k) => k.name));
  const missing = new Set<string>();
  for (const key of targetKeys) {
    if (key.required && input.hostConfig[key.name] === undefined && key.default === undefined) missing.add(key.name);
  }
  // requiredConfig is the same list, kept in the manifest on its own; honour it even if runtime.config lost a key
  for (const name of input.target.requiredConfig) {
    if (!targetNames.has(name) && input.hostConfig[name] === undefined) missing.add(name);
  }
  const added = [...targetNames].filter((n) => !currentNames.has(n)).sort();
  const removed = [...currentNames].filter((n) => !targetNames.has(n)).sort();
  return { missing: [...missing].sort(), added, removed, renamed: guessRenames(removed, added) };
}

/** Pairs a removed key with an added one when the names are close (a typo fixed, a prefix added or dropped). */
function guessRenames(removed: string[], added: string[]): Array<{ from: string; to: string }> {
  const renamed: Array<{ from: string; to: string }> = [];
  const free = new Set(added);
  for (const from of removed) {
    const to = closestMatch(from, [...free]) ?? [...free].find((candidate) => sharesWordsWith(from, candidate));
    if (to) {
      renamed.push({ from, to });
      free.delete(to);
    }
  }
  return renamed;
}

/** NOTES_TITLE and TITLE, APP_SECRET and SECRET_KEY: at least half the words of the shorter name. */
function sharesWordsWith(a: string, b: string): boolean {
  const wa = a.split('_').filter(Boolean);
  const wb = b.split('_').filter(Boolean);
  const common = wa.filter((w) => wb.includes(w) && w.length >= 3).length;
  return common > 0 && common * 2 >= Math.min(wa.length, wb.length);
}
