/**
 * Makes a release's folder out of the prepared copy of another release (prepared-release.ts):
 * first checks that the copy is exactly that release's tree (every folder's entries and
 * permissions, every file the same hard link its snapshot recorded, every link's target),
 * then removes what the new release drops or changes, and adds what it brings. A copy that
 * fails the check is not used: the caller makes the folder from nothing.
 *
 * The same rules as a fresh install hold: nothing is written through a link (links are
 * removed with unlink, made last, and the manifest never places an entry under one),
 * contents are checked against their digests before they are written, and the folders
 * end read-only.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { foldersOfEntries, type ReleaseManifest } from '../release/manifest.js';
import type { StatSnapshot } from '../release/verify-tree.js';
import type { BlobStore } from '../store/blob-store.js';
import { chunks, FileStats, underShared, installError, linkEntries, planContents, statWritten, writePlannedContents, type AssembleResult } from './assemble-release.js';
import { startInstallWorkers, type InstallWorkers } from './install-workers.js';
import type { HostLayout } from './layout.js';
import { ensureObjectShards, listHostObjects } from './objects.js';

/** The release a prepared folder copies: its manifest and the stat snapshot taken when it was installed. */
export interface PreparedBase {
  id: string;
  manifest: ReleaseManifest;
  snapshot: StatSnapshot;
}

/** A relative path's folder ('' for the release's top). */
function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

function nameOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Every folder's expected entries ('f' file, 'l' link, 'd' folder), by folder ('' the top). */
function expectedEntries(manifest: ReleaseManifest, folders: string[]): Map<string, Map<string, string>> {
  const byFolder = new Map<string, Map<string, string>>([['', new Map()]]);
  for (const folder of folders) byFolder.set(folder, new Map());
  const add = (rel: string, type: string) => byFolder.get(parentOf(rel))!.set(nameOf(rel), type);
  for (const folder of folders) add(folder, 'd');
  for (const file of manifest.files) add(file.path, 'f');
  for (const link of manifest.links ?? []) add(link.path, 'l');
  return byFolder;
}

/** True when the folder at `root` is exactly `base`'s tree, as prepared: checked in the install workers. */
async function matchesBase(workers: InstallWorkers, root: string, base: PreparedBase, baseFolders: string[]): Promise<boolean> {
  const at = (rel: string) => (rel === '' ? root : `${root}/${rel}`);
  const expected = expectedEntries(base.manifest, baseFolders);
  const folders = ['', ...baseFolders];
  const scans = await Promise.all(chunks(folders, workers.size * 4).map(async (batch) => ({ batch, texts: await workers.texts({ op: 'scan', dirs: batch.map(at) }) })));
  for (const { batch, texts } of scans) {
    for (let i = 0; i < batch.length; i++) {
      const [mode, ...entries] = texts[i]!.split('\0');
      const want = expected.get(batch[i]!)!;
      if (Number(mode) !== 0o555 || entries.length !== want.size) return false;
      for (const entry of entries) if (want.get(entry.slice(1)) !== entry[0]) return false;
    }
  }
  const files = base.manifest.files;
  const indexes = files.map((_, i) => i);
  const statted = await Promise.all(chunks(indexes, workers.size * 4).map(async (batch) => ({ batch, values: (await workers.run({ op: 'stats', paths: batch.map((i) => at(files[i]!.path)) }))! })));
  for (const { batch, values } of statted) {
    for (let k = 0; k < batch.length; k++) {
      const recorded = base.snapshot[batch[k]!];
      if (!recorded || recorded[0] !== values[k * 3] || recorded[1] !== values[k * 3 + 1] || recorded[2] !== values[k * 3 + 2]) return false;
    }
  }
  const links = base.manifest.links ?? [];
  if (links.length > 0) {
    const targets = await workers.texts({ op: 'readlinks', paths: links.map((l) => at(l.path)) });
    if (links.some((link, i) => targets[i] !== link.target)) return false;
  }
  return true;
}

/**
 * Turns `dir` (the prepared copy of `base`, moved there) into the release. Answers null,
 * having changed nothing, when the copy is not exactly `base`'s tree.
 */
export async function assembleFromPrepared(o: {
  layout: HostLayout;
  store: BlobStore;
  app: string;
  id: string;
  manifest: ReleaseManifest;
  dir: string;
  base: PreparedBase;
  snapshotFile: string;
  /** the relative paths the shared data links go to (beforeReadOnly makes them) */
  sharedPaths: string[];
  beforeReadOnly: () => Promise<void>;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  hostObjects?: Promise<Set<string>>;
}): Promise<AssembleResult | null> {
  const { layout, manifest, base } = o;
  const root = path.resolve(o.dir);
  const at = (rel: string) => (rel === '' ? root : `${root}/${rel}`);
  const workers = startInstallWorkers();
  try {
    const baseLinks = base.manifest.links ?? [];
    const links = manifest.links ?? [];
    const baseFolders = foldersOfEntries([...base.manifest.files.map((f) => f.path), ...baseLinks.map((l) => l.path)]);
    // Anything missing or unreadable in the copy is a mismatch too.
    const matches = base.snapshot.length === base.manifest.files.length && (await matchesBase(workers, root, base, baseFolders).catch(() => false));
    if (!matches) return null;

    // What the release keeps, drops and adds, by path.
    const baseFileAt = new Map(base.manifest.files.map((f, i) => [f.path, i]));
    const keptFrom = new Map<number, number>(); // new index -> base index
    const addFiles: number[] = [];
    manifest.files.forEach((file, i) => {
      const b = baseFileAt.get(file.path);
      const was = b === undefined ? undefined : base.manifest.files[b]!;
      if (was && was.sha256 === file.sha256 && was.mode === file.mode) keptFrom.set(i, b!);
      else addFiles.push(i);
    });
    const keptBase = new Set(keptFrom.values());
    const removeFiles = base.manifest.files.filter((_, i) => !keptBase.has(i)).map((f) => f.path);
    const newLinkAt = new Map(links.map((l) => [l.path, l.target]));
    const baseLinkAt = new Map(baseLinks.map((l) => [l.path, l.target]));
    const removeLinks = baseLinks.filter((l) => newLinkAt.get(l.path) !== l.target).map((l) => l.path);
    const addLinks = links.filter((l) => baseLinkAt.get(l.path) !== l.target);
    const folders = foldersOfEntries([...manifest.files.map((f) => f.path), ...links.map((l) => l.path)]);
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
    const plan = planContents({ layout, manifest, have: await (o.hostObjects ?? listHostObjects(layout)), at, indexes: addFiles });
    const stats = new FileStats(manifest.files.length);
    for (const [i, b] of keptFrom) stats.place([i], base.snapshot[b]!);
    const result: AssembleResult = { fetchedObjects: plan.toFetch.size, fetchedBytes: 0, reusedFiles: manifest.files.length - plan.newFiles, written: workers.written, damaged: [] };
    const linked = linkEntries(workers, stats, plan.linkNow);
    linked.catch(() => undefined); // awaited below
    result.fetchedBytes = await writePlannedContents({ ...o, plan, workers });
    await Promise.all([linked, linkEntries(workers, stats, plan.linkAfterFetch), statWritten(workers, stats, plan, manifest, at)]);
    if (addLinks.length > 0) await workers.run({ op: 'symlinks', pairs: addLinks.map((l) => [l.target, at(l.path)]) });

    const { snapshot, damaged } = stats.snapshot(layout, manifest);
    result.damaged = damaged;
    if (damaged.length > 0) return result;
    await fs.writeFile(o.snapshotFile, JSON.stringify(snapshot));
    await o.beforeReadOnly();
    // Back to read-only: what was opened and still is there, and what is new (children before parents, the top last).
    const closing = new Set([...opened.filter((f) => folderSet.has(f)), ...addFolders]);
    const stillThere = [...closing].filter((f) => !underShared(f, o.sharedPaths)).sort().reverse();
    await Promise.all(chunks(stillThere, workers.size).map((dirs) => workers.run({ op: 'chmods', dirs: dirs.map(at), mode: 0o555 })));
    await fs.chmod(root, 0o555);
    return result;
  } catch (error) {
    throw Object.assign(installError(error) as object, { written: [...workers.written] });
  } finally {
    await workers.close();
  }
}
