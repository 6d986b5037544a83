/**
 * The bytes of a release's files, summed once per file list. An update's plan and its fetch
 * step's line both name a release's size, and a warm rollback plans again: over 50,000
 * parsed entries of a few shapes each sum took about 7 ms, a tenth of the rollback's budget.
 */

/** File lists are never changed once a manifest is parsed: the sum holds for as long as the array lives. */
const known = new WeakMap<readonly { size: number }[], number>();

/** The sum of the files' sizes. */
export function filesBytes(files: readonly { size: number }[]): number {
  let bytes = known.get(files);
  if (bytes === undefined) {
    bytes = 0;
    for (const file of files) bytes += file.size;
    known.set(files, bytes);
  }
  return bytes;
}
