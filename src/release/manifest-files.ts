/**
 * The check of a manifest's file list, written out by hand: a large app's list has 50,000
 * entries, and checking them with the schema library took ten times as long (most of a
 * one-file install's time on the host's main thread). It refuses exactly what the schema
 * refused: an entry that is not { path, sha256, mode, size }, with any other key.
 */
const SHA256_HEX = /^[0-9a-f]{64}$/;
const FILE_KEYS = new Set(['path', 'sha256', 'mode', 'size']);
/** past this many problems the list is plainly not a manifest's: the rest would only bury the first */
const MAX_LISTED = 50;

/** Problems of each file entry, as `files.<i>.<field>: what is wrong`; null when `files` is not a list (the schema says so). */
export function fileEntryProblems(files: unknown): string[] | null {
  if (!Array.isArray(files)) return null;
  const problems: string[] = [];
  for (let i = 0; i < files.length && problems.length < MAX_LISTED; i++) {
    const entry: unknown = files[i];
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      problems.push(`files.${i}: expected an object like { path, sha256, mode, size }`);
      continue;
    }
    const file = entry as Record<string, unknown>;
    for (const key of Object.keys(file)) if (!FILE_KEYS.has(key)) problems.push(`files.${i}: Unrecognized key: ${JSON.stringify(key)}`);
    if (typeof file.path !== 'string') problems.push(`files.${i}.path: expected a string`);
    if (typeof file.sha256 !== 'string' || !SHA256_HEX.test(file.sha256)) problems.push(`files.${i}.sha256: must be 64 lowercase hex characters`);
    if (file.mode !== 0o644 && file.mode !== 0o755) problems.push(`files.${i}.mode: must be 420 (0644) or 493 (0755)`);
    if (typeof file.size !== 'number' || !Number.isSafeInteger(file.size) || file.size < 0) problems.push(`files.${i}.size: must be a whole number of bytes, at most 2^53-1`);
  }
  return problems;
}
