/**
 * The folders a release's entries lie in. A 50,000-file release has about 8,000, and
 * working them out is a pass over every path: an install used to do it three times per
 * manifest (the check, the folders to make or stamp, the folders to seal). It is done once
 * per manifest object here, and the check hands over the folders it gathered anyway.
 */

/** Every folder that holds one of these paths ('a' and 'a/b' for 'a/b/c.txt'), parents before children. */
export function foldersOfEntries(paths: Iterable<string>): string[] {
  const folders = new Set<string>();
  let previousParent: string | undefined;
  for (const p of paths) previousParent = addFoldersOf(folders, p, previousParent);
  return sortedFolders(folders);
}

/**
 * Adds the folders of `p` to `folders`; answers `p`'s parent, to be handed back as `previousParent`
 * with the next path. A folder is in the set only with all of its own folders, so the walk up stops
 * at the first one already there; paths in order share their parent with the one before.
 */
export function addFoldersOf(folders: Set<string>, p: string, previousParent: string | undefined): string | undefined {
  const slash = p.lastIndexOf('/');
  if (slash === -1) return previousParent;
  const parent = p.slice(0, slash);
  if (parent === previousParent) return parent;
  for (let end = slash; end !== -1; end = end === 0 ? -1 : p.lastIndexOf('/', end - 1)) {
    const folder = p.slice(0, end);
    if (folders.has(folder)) break;
    folders.add(folder);
  }
  return parent;
}

/** Sorted by UTF-16 code units, as manifest paths are (a parent sorts before its children). */
function sortedFolders(folders: Iterable<string>): string[] {
  return [...folders].sort();
}

interface Entries {
  files: readonly { path: string }[];
  links?: readonly { path: string }[];
}

/** Manifests are never changed once parsed: what their entries' folders are holds for as long as the object lives. */
const known = new WeakMap<Entries, readonly string[]>();

/** The folders of a manifest's files and links, parents before children (see foldersOfEntries). */
export function manifestFolders(manifest: Entries): readonly string[] {
  let folders = known.get(manifest);
  if (folders === undefined) {
    folders = foldersOfEntries(entryPaths(manifest));
    known.set(manifest, folders);
  }
  return folders;
}

function* entryPaths(manifest: Entries): Iterable<string> {
  for (const { path } of manifest.files) yield path;
  for (const { path } of manifest.links ?? []) yield path;
}

/** Keeps the folders a check of `manifest`'s entries gathered (every folder of its files and links), for manifestFolders. */
export function rememberManifestFolders(manifest: Entries, folders: Set<string>): void {
  known.set(manifest, sortedFolders(folders));
}
