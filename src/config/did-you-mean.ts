/**
 * "Did you mean …?" suggestions for misspelt keys and names.
 */

/**
 * Edit distance between two strings: insertions, deletions, substitutions and swaps of
 * two neighbouring characters each cost 1 (Levenshtein with transpositions), so the
 * common typo `port_evn` is one step from `port_env`.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // rows[i][j] = distance between a[0..i) and b[0..j)
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push(new Array<number>(b.length + 1).fill(0));
    rows[i][0] = i;
  }
  for (let j = 0; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2][j - 2] + 1);
      }
      rows[i][j] = best;
    }
  }
  return rows[a.length][b.length];
}

/**
 * The candidate `word` was most likely meant to be, or undefined when none is close:
 * within about a third of the word's length in edits (case ignored), or a longer name
 * that starts with it (`prod` → `production`).
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const wanted = word.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    const allowed = Math.max(1, Math.floor(Math.max(wanted.length, candidate.length) / 3));
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  if (best) return best.candidate;
  if (wanted.length >= 3) return candidates.find((candidate) => candidate.toLowerCase().startsWith(wanted));
  return undefined;
}

/** `; did you mean \`x\`?` when a close candidate exists, else an empty string: ready to append to a message. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const match = closestMatch(word, candidates);
  return match === undefined ? '' : `; did you mean \`${match}\`?`;
}
