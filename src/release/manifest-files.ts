/**
 * The check of a manifest's file list, written out by hand: a large app's list has 50,000
 * entries, and checking them with the schema library took ten times as long (most of a
 * one-file install's time on the host's main thread). It refuses exactly what the schema
 * refused: an entry that is not { path, sha256, mode, size }, with any other key.
 */
import { addFoldersOf } from './manifest-folders.js';

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

/**
 * Whether a path is a plain relative posix path: not empty, at most 4096 characters and 256
 * segments, no NUL, backslash, drive letter, empty, '.' or '..' segment. One pass over its
 * characters; a path it refuses is looked at again by unsafePathReason, which says why.
 */
export function isPlainRelativePath(p: string): boolean {
  const length = p.length;
  if (length === 0 || length > 4096) return false;
  if (length >= 2 && p.charCodeAt(1) === 58 /* : */) {
    const first = p.charCodeAt(0) | 0x20;
    if (first >= 97 && first <= 122) return false;
  }
  let segments = 1;
  let segmentStart = 0;
  for (let i = 0; i <= length; i++) {
    const c = i < length ? p.charCodeAt(i) : 47;
    if (c === 0 || c === 92 /* \ */) return false;
    if (c !== 47 /* / */) continue;
    const segmentLength = i - segmentStart;
    if (segmentLength === 0) return false;
    if (p.charCodeAt(segmentStart) === 46 /* . */ && (segmentLength === 1 || (segmentLength === 2 && p.charCodeAt(segmentStart + 1) === 46))) return false;
    if (i < length && ++segments > 256) return false;
    segmentStart = i + 1;
  }
  return true;
}

/**
 * Whether a manifest's file and link lists are plainly sound: every path plain and relative,
 * each list strictly sorted (so without duplicates), no path in both lists, and no path that
 * is also a folder of another (which also keeps every entry from lying under a link). Folders
 * are gathered once per distinct parent folder: a 50,000-file list has about 8,000. False
 * means "look closer", never a verdict: the caller lists the problems the slow way.
 */
export function entryListsLookSound(files: readonly { path: string }[], links: readonly { path: string }[]): boolean {
  return soundEntryFolders(files, links) !== null;
}

/** The folders of every entry when the lists look sound (entryListsLookSound), else null. */
export function soundEntryFolders(files: readonly { path: string }[], links: readonly { path: string }[]): Set<string> | null {
  const folders = new Set<string>();
  const gather = (list: readonly { path: string }[]): boolean => {
    let previousPath: string | undefined;
    let previousParent: string | undefined;
    for (const { path } of list) {
      if (!isPlainRelativePath(path)) return false;
      if (previousPath !== undefined && !(previousPath < path)) return false;
      previousPath = path;
      previousParent = addFoldersOf(folders, path, previousParent);
    }
    return true;
  };
  if (!gather(files) || !gather(links)) return null;
  for (const { path } of files) if (folders.has(path)) return null;
  const linkPaths = new Set<string>();
  for (const { path } of links) {
    if (folders.has(path)) return null;
    linkPaths.add(path);
  }
  if (linkPaths.size > 0) for (const { path } of files) if (linkPaths.has(path)) return null;
  return folders;
}
