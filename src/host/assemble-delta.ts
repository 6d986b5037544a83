/**
 * Makes a release's folder out of the prepared copy of another release (prepared-release.ts),
 * one that findPreparedBase found as it was made (no folder of it changed since): removes what
 * the new release drops or changes, and adds what it brings.
 *
 * The same rules as a fresh install hold: nothing is written through a link (links are
 * removed with unlink, made last, and the manifest never places an entry under one),
 * contents are checked against their digests before they are written, and the folders
 * end read-only.
 */
import path from 'node:path';
import type { ReleaseManifest } from '../release/manifest.js';
import { manifestFolders } from '../release/manifest-folders.js';
import type { BlobStore } from '../store/blob-store.js';
import { chunks, FileStats, underShared, installError, linkEntries, sealRelease, writePlannedContents, type AssembleResult } from './assemble-release.js';
import { planContents } from './content-plan.js';
import type { InstallWorkers } from './install-workers.js';
import type { HostLayout } from './layout.js';
import { ensureObjectShards, listHostObjects, objectsPresent } from './objects.js';
import type { PreparedBase } from './prepared-release.js';

/** Past this many added contents, listing every object (a few hundred ms at 50,000) beats two lookups each. */
const LOOKUP_LIMIT = 2_000;

/** A relative path's folder ('' for the release's top). */
function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}


/** Turns the prepared copy of `base` into the release, in place (the caller renames it after). */
export async function assembleFromPrepared(o: {
  layout: HostLayout;
  store: BlobStore;
  app: string;
  id: string;
  manifest: ReleaseManifest;
  base: PreparedBase;
  snapshotFile: string;
  /** the relative paths the shared data links go to (beforeReadOnly makes them) */
  sharedPaths: string[];
  beforeReadOnly: () => Promise<void>;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** the host's objects, listed by the caller (maybe started early); listed here when absent */
  hostObjects?: () => Promise<Set<string>>;
  /** the install's workers (the caller ends them) */
  workers: InstallWorkers;
}): Promise<AssembleResult> {
  const { layout, manifest, base } = o;
  const root = path.resolve(base.dir);
  const at = (rel: string) => (rel === '' ? root : `${root}/${rel}`);
  const { workers } = o;
  try {
    const baseLinks = base.manifest.links ?? [];
    const links = manifest.links ?? [];
    const baseFolders = manifestFolders(base.manifest);
    // What the release keeps, drops and adds: both file lists are sorted by path (parseManifest sees to it), so one walk.
    const baseFiles = base.manifest.files;
    const keptFrom: number[] = []; // pairs: new index, base index
    const addFiles: number[] = [];
    const removeFiles: string[] = [];
    let b = 0;
    manifest.files.forEach((file, i) => {
      while (b < baseFiles.length && baseFiles[b]!.path < file.path) removeFiles.push(baseFiles[b++]!.path);
      const was = b < baseFiles.length && baseFiles[b]!.path === file.path ? baseFiles[b++]! : undefined;
      if (was && was.sha256 === file.sha256 && was.mode === file.mode) keptFrom.push(i, b - 1);
      else {
        addFiles.push(i);
        if (was) removeFiles.push(was.path);
      }
    });
    while (b < baseFiles.length) removeFiles.push(baseFiles[b++]!.path);
    const newLinkAt = new Map(links.map((l) => [l.path, l.target]));
    const baseLinkAt = new Map(baseLinks.map((l) => [l.path, l.target]));
    const removeLinks = baseLinks.filter((l) => newLinkAt.get(l.path) !== l.target).map((l) => l.path);
    const addLinks = links.filter((l) => baseLinkAt.get(l.path) !== l.target);
    const folders = manifestFolders(manifest);
    const folderSet = new Set(folders);
    const baseFolderSet = new Set(baseFolders);
    const removeFolders = baseFolders.filter((f) => !folderSet.has(f)).reverse(); // children first
    const addFolders = folders.filter((f) => !baseFolderSet.has(f)); // parents first

    // The folders written in: each changed entry's, and the shared data paths' (a seeded one's whole tree goes).
    const touched = new Set<string>(['']);
    for (const rel of [...removeFiles, ...removeLinks, ...removeFolders, ...addFolders, ...addFiles.map((i) => manifest.files[i]!.path), ...addLinks.map((l) => l.path)]) touched.add(parentOf(rel));
    // Shared paths are top-level names: the top is touched already; a seeded folder the release ships is removed whole.
    for (const folder of folders) if (underShared(folder, o.sharedPaths)) touched.add(folder);
    const opened = [...touched].filter((f) => f === '' || baseFolderSet.has(f));
    await workers.run({ op: 'chmods', dirs: opened.map(at), mode: 0o755 });
    if (removeFiles.length + removeLinks.length > 0) {
      await Promise.all(chunks([...removeFiles, ...removeLinks], workers.size).map((paths) => workers.run({ op: 'unlinks', paths: paths.map(at) })));
    }
    if (removeFolders.length > 0) await workers.run({ op: 'rmdirs', dirs: removeFolders.map(at) }, { on: 0 });
    if (addFolders.length > 0) await workers.run({ op: 'mkdirs', dirs: addFolders.map(at) }, { on: 0 });

    ensureObjectShards(layout);
    // A few added contents are looked up one by one; many, in the listing of every object.
    const have = addFiles.length <= LOOKUP_LIMIT ? await objectsPresent(layout, addFiles.map((i) => manifest.files[i]!)) : await (o.hostObjects?.() ?? listHostObjects(layout));
    const plan = planContents({ layout, manifest, have, at, indexes: addFiles });
    const stats = new FileStats(manifest.files.length);
    for (let k = 0; k < keptFrom.length; k += 2) stats.placeOne(keptFrom[k]!, base.record.snapshot[keptFrom[k + 1]!]!);
    const result: AssembleResult = { fetchedObjects: plan.toFetch.size, fetchedBytes: 0, reusedFiles: manifest.files.length - plan.newFiles, written: workers.written, damaged: [] };
    const linked = linkEntries(workers, stats, plan.linkNow);
    linked.catch(() => undefined); // awaited below
    result.fetchedBytes = await writePlannedContents({ ...o, plan, workers, stats });
    await Promise.all([linked, linkEntries(workers, stats, plan.linkAfterFetch)]);
    if (addLinks.length > 0) await workers.run({ op: 'symlinks', pairs: addLinks.map((l) => [l.target, at(l.path)]) });

    // Back to read-only: what was opened and still is there, and what is new.
    const closing = [...new Set([...opened.filter((f) => f !== '' && folderSet.has(f)), ...addFolders])];
    return await sealRelease({ ...o, workers, stats, result, root, folders: closing });
  } catch (error) {
    throw Object.assign(installError(error) as object, { written: [...workers.written] });
  }
}
