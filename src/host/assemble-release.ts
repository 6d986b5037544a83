/**
 * Makes a release's folder on a host: its folders, each file as a hard link to the
 * host's object with that content (fetching from the store only the contents the host
 * lacks, each checked against its digest), and each link with its exact target text.
 *
 * Nothing is ever written through a link, by construction: the manifest never places
 * an entry under one of its links (checked when it is parsed), the folder is new, files
 * are created with O_EXCL, and links are made last. The work runs in install workers,
 * so the agent's event loop (and its proxy) stays free.
 */
import { promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { manifestFolders } from '../release/manifest-folders.js';
import { unpackRelease } from '../release/unpack.js';
import type { BlobStore } from '../store/blob-store.js';
import { loadObjectIndex } from '../store/objects.js';
import { contentDamaged, readStoredRanges } from '../store/read-objects.js';
import { fetchLegacyArchive, hasLegacyArchive } from '../store/releases.js';
import type { ObjectWrite } from './install-worker.js';
import { InstallWorkerError, startInstallWorkers, type InstallWorkers } from './install-workers.js';
import type { HostLayout } from './layout.js';
import { ensureObjectShards, listHostObjects, OBJECT_MTIME_S, objectPath } from './objects.js';
import { planContents, type ContentPlan } from './content-plan.js';

export interface AssembleResult {
  /** contents fetched from the store (new to this host) */
  fetchedObjects: number;
  fetchedBytes: number;
  /** files whose content the host already held (hard-linked, not fetched) */
  reusedFiles: number;
  /** object files this install added (taken back if it is refused) */
  written: string[];
  /** objects found damaged (written to since they were made): the caller removes them and assembles again */
  damaged: string[];
}

export function chunks<T>(items: T[], count: number): T[][] {
  const size = Math.ceil(items.length / count);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** folders per mkdirs batch: links under the first folders start while the later ones are made */
const FOLDER_SEGMENT = 1000;
/** links per batch */
const LINK_BATCH = 2000;

/**
 * Makes the folders in path order (parents first) on one worker, a segment at a time:
 * most of a node_modules tree's folders share a parent, and two threads making entries
 * in one folder wait on its lock and each other (measured: one thread 0.8 s for 8,600
 * folders, two 2.5 s). Answers, per segment, the first folder after it (null for the
 * last) and when the segment (and every one before it) is made.
 */
function makeFolders(workers: InstallWorkers, folders: string[]): Array<{ until: string | null; made: Promise<unknown> }> {
  const segments: Array<{ until: string | null; made: Promise<unknown> }> = [];
  for (let from = 0; from < folders.length; from += FOLDER_SEGMENT) {
    const to = Math.min(folders.length, from + FOLDER_SEGMENT);
    // Worker 0 takes them all, in order: a segment's parents are made before it.
    const made = workers.run({ op: 'mkdirs', dirs: folders.slice(from, to) }, { on: 0 });
    made.catch(() => undefined); // awaited below
    segments.push({ until: to < folders.length ? folders[to]! : null, made });
  }
  return segments;
}

/**
 * A host's first release: nothing to link, so nothing to start early. Folders are made
 * depth by depth, each depth over all workers (fresh installs measured slower with the
 * segments on one worker, on a loaded machine; to be measured again on a quiet one).
 */
function makeFoldersByDepth(workers: InstallWorkers, folders: string[], root: string): Array<{ until: string | null; made: Promise<unknown> }> {
  const byDepth = new Map<number, string[]>();
  for (const folder of folders) {
    let depth = 0;
    for (let i = root.length + 1; i < folder.length; i++) if (folder.charCodeAt(i) === 47) depth += 1;
    let list = byDepth.get(depth);
    if (!list) byDepth.set(depth, (list = []));
    list.push(folder);
  }
  const made = (async () => {
    for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
      await Promise.all(chunks(byDepth.get(depth)!, workers.size).map((dirs) => workers.run({ op: 'mkdirs', dirs })));
    }
  })();
  made.catch(() => undefined); // awaited by the caller
  return [{ until: null, made }];
}

function installedNames(releasesDir: string): string[] {
  try {
    return readdirSync(releasesDir);
  } catch {
    return [];
  }
}

/** A worker's failure as the error a user sees. */
export function installError(error: unknown): unknown {
  if (!(error instanceof InstallWorkerError)) return error;
  if (error.code === 'CONTENT_MISMATCH') return contentDamaged(error.path ?? '?', error.message);
  if (error.errno === 'ENOSPC' || error.errno === 'EDQUOT') {
    return new SlipwayError('HOST_DISK_FULL', `The host's disk is full: ${error.path ?? 'a release file'} could not be written (${error.errno}).`, {
      hint: 'Free space on the host (`slipway prune <env>` removes old releases), then try again; nothing was installed.',
      cause: error,
    });
  }
  return new SlipwayError('RELEASE_INSTALL_FAILED', `Could not make the release folder: ${error.message}`, {
    hint: 'Nothing was installed; check the host folder and try again.',
    cause: error,
  });
}

/** True for a relative path at or under one of the shared data paths (top-level names). */
export function underShared(rel: string, sharedPaths: string[]): boolean {
  const top = rel.split('/', 1)[0]!;
  return sharedPaths.includes(top);
}

/** Each file's [inode, size, mtimeMs], in manifest order, filled as files are made. */
export class FileStats {
  readonly values: number[];
  constructor(count: number) {
    this.values = new Array<number>(count * 3);
  }
  placeOne(index: number, values: readonly number[]): void {
    this.values[index * 3] = values[0]!;
    this.values[index * 3 + 1] = values[1]!;
    this.values[index * 3 + 2] = values[2]!;
  }
  place(indexes: number[], values: number[]): void {
    for (let k = 0; k < indexes.length; k++) {
      const at3 = indexes[k]! * 3;
      this.values[at3] = values[k * 3]!;
      this.values[at3 + 1] = values[k * 3 + 1]!;
      this.values[at3 + 2] = values[k * 3 + 2]!;
    }
  }
  /**
   * The stat snapshot as JSON (a StatSnapshot, written out directly: 50,000 small lists are
   * garbage), and the objects of files written to since they were made (another size, or a time
   * other than every object's). With any damaged, the JSON is empty: nothing is to be written.
   */
  snapshotJson(layout: HostLayout, manifest: ReleaseManifest): { json: string; damaged: string[] } {
    const parts = new Array<string>(manifest.files.length);
    const damaged: string[] = [];
    const values = this.values;
    manifest.files.forEach((file, i) => {
      const ino = values[i * 3];
      const size = values[i * 3 + 1];
      const mtimeMs = values[i * 3 + 2];
      if (size !== file.size || mtimeMs !== OBJECT_MTIME_S * 1000 || typeof ino !== 'number') damaged.push(objectPath(layout, file.sha256, file.mode));
      else parts[i] = `[${ino},${size},${mtimeMs}]`;
    });
    return { json: damaged.length > 0 ? '' : `[${parts.join(',')}]`, damaged };
  }
}

/** Links `entries` ([object, file, manifest index]) in batches over the workers, placing each new link's stat. */
export function linkEntries(workers: InstallWorkers, stats: FileStats, entries: Array<[string, string, number]>): Promise<unknown> {
  const batches: Promise<void>[] = [];
  for (let from = 0; from < entries.length; from += LINK_BATCH) {
    const batch = entries.slice(from, from + LINK_BATCH);
    batches.push(workers.run({ op: 'links', pairs: batch.map(([object, file]) => [object, file]) }).then((values) => stats.place(batch.map((e) => e[2]), values!)));
  }
  return Promise.all(batches);
}

/**
 * Writes the planned contents the host lacks (copied from the other mode's object, or
 * fetched and checked), once `ready` (their folders made) settles; each written file's
 * stat goes into `stats`. Answers the bytes fetched.
 */
export async function writePlannedContents(o: {
  layout: HostLayout;
  store: BlobStore;
  app: string;
  id: string;
  manifest: ReleaseManifest;
  plan: ContentPlan;
  workers: InstallWorkers;
  stats: FileStats;
  ready?: Promise<unknown>;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}): Promise<number> {
  const { plan, workers, stats } = o;
  const copy = async (copies: ContentPlan['copies']) => {
    await o.ready;
    if (copies.length > 0) stats.place(copies.map((c) => c.fileIndex), (await workers.run({ op: 'copyObjects', copies: copies.map(({ fileIndex: _, ...c }) => c) }))!);
  };
  if (plan.toFetch.size === 0) {
    await copy(plan.copies);
    return 0;
  }
  if (await hasLegacyArchive(o.store, o.app, o.id)) return fetchFromLegacyArchive({ ...o, copy });
  // Read while the folders are made; written once they are.
  const wanted = [...plan.toFetch].map(([sha256, { size }]) => ({ sha256, size }));
  const index = await loadObjectIndex(o.store, o.app, { cacheDir: path.join(o.layout.cacheDir, 'packs'), only: wanted.map((w) => w.sha256) });
  const copied = copy(plan.copies);
  copied.catch(() => undefined); // awaited below
  const read = await readStoredRanges(
    o.store,
    o.app,
    wanted,
    index,
    async (buffer, slices) => {
      const objects: ObjectWrite[] = [];
      const indexes: number[] = [];
      for (const slice of slices) {
        for (const { fileIndex, ...target } of plan.toFetch.get(slice.sha256)!.targets) {
          objects.push({ digest: slice.sha256, size: slice.size, encoding: slice.encoding, start: slice.start, end: slice.end, ...target });
          indexes.push(fileIndex);
        }
      }
      await o.ready;
      // A range read into a buffer of its own is handed over, not copied (330 MiB at 50,000 files); a pooled one is copied.
      const own = buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength && buffer.buffer instanceof ArrayBuffer;
      stats.place(indexes, (await workers.run({ op: 'writeObjects', buffer, objects }, own ? { transfer: [buffer.buffer as ArrayBuffer] } : {}))!);
    },
    { onProgress: o.onProgress },
  );
  await copied;
  return read.fetchedBytes;
}

/**
 * The end of every install: the stat snapshot written (taken before the shared data links
 * exist, so no lstat goes through a link), the shared links made (`beforeReadOnly`), then
 * `folders` (relative) and the top made read-only, except those at or under a shared path:
 * they are gone, and a chmod there would go through the link. A result with damaged
 * objects stops before anything is written.
 */
export async function sealRelease(o: {
  layout: HostLayout;
  manifest: ReleaseManifest;
  workers: InstallWorkers;
  stats: FileStats;
  result: AssembleResult;
  snapshotFile: string;
  beforeReadOnly: () => Promise<void>;
  sharedPaths?: string[];
  root: string;
  folders: string[];
}): Promise<AssembleResult> {
  const { json, damaged } = o.stats.snapshotJson(o.layout, o.manifest);
  o.result.damaged = damaged;
  if (damaged.length > 0) return o.result;
  await fs.writeFile(o.snapshotFile, json);
  await o.beforeReadOnly();
  // Children before parents.
  const own = o.folders.filter((folder) => !underShared(folder, o.sharedPaths ?? [])).sort().reverse().map((folder) => `${o.root}/${folder}`);
  await Promise.all(chunks(own, o.workers.size).map((dirs) => o.workers.run({ op: 'chmods', dirs, mode: 0o555 })));
  await fs.chmod(o.root, 0o555);
  return o.result;
}

/**
 * Fills `dir` (new, empty) with the release, writes its stat snapshot to `snapshotFile`,
 * runs `beforeReadOnly` (the shared data links go in there), then makes its folders
 * read-only. On failure the objects it wrote are in the error's `written`.
 */
export async function assembleRelease(o: {
  layout: HostLayout;
  store: BlobStore;
  app: string;
  id: string;
  manifest: ReleaseManifest;
  dir: string;
  snapshotFile: string;
  beforeReadOnly: () => Promise<void>;
  /** the top-level paths beforeReadOnly links to shared data: whatever the release had there is gone, and a chmod there would go through the link */
  sharedPaths?: string[];
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** the host's objects, listed by the caller (maybe started early); listed here when absent */
  hostObjects?: () => Promise<Set<string>>;
  /** the contents written are not linked in as objects yet (pending-objects.ts does it later) */
  deferObjects?: boolean;
  /** the caller's workers, which it ends; without them the assembly starts and ends its own */
  workers?: InstallWorkers;
}): Promise<AssembleResult> {
  const { layout, manifest, dir } = o;
  const links = manifest.links ?? [];
  // Manifest paths are checked relative posix paths: plain joins, no path.join per file (50,000 of them).
  const root = path.resolve(dir);
  const at = (rel: string) => `${root}/${rel}`;
  const workers = o.workers ?? startInstallWorkers();
  try {
    const folders = manifestFolders(manifest).map(at);
    // Folders are made while this thread plans and fetches (a mkdir costs ~0.1 ms, and a node_modules tree has thousands).
    const firstRelease = !installedNames(layout.releasesDir).some((name) => !name.startsWith('.') && !name.includes('.tmp-'));
    const segments = firstRelease ? makeFoldersByDepth(workers, folders, root) : makeFolders(workers, folders);
    const foldersMade = Promise.all(segments.map((segment) => segment.made));
    foldersMade.catch(() => undefined);
    ensureObjectShards(layout);
    const plan = planContents({ layout, manifest, have: await (o.hostObjects?.() ?? listHostObjects(layout)), at, deferObjects: o.deferObjects });
    const result: AssembleResult = {
      fetchedObjects: plan.toFetch.size,
      fetchedBytes: 0,
      reusedFiles: manifest.files.length - plan.newFiles,
      written: workers.written,
      damaged: [],
    };
    const stats = new FileStats(manifest.files.length);

    // Manifest order is path order, and a file's folders sort before it: the files before a
    // segment's `until` have all their folders made once that segment is.
    const { linkNow } = plan;
    const linked: Promise<unknown>[] = [];
    let next = 0;
    for (const segment of segments) {
      let end = next;
      while (end < linkNow.length && (segment.until === null || linkNow[end]![1] < segment.until)) end++;
      const entries = linkNow.slice(next, end);
      next = end;
      if (entries.length > 0) linked.push(segment.made.then(() => linkEntries(workers, stats, entries)));
    }
    if (next < linkNow.length) linked.push(linkEntries(workers, stats, linkNow.slice(next))); // a release without folders
    const allLinked = Promise.all(linked);
    allLinked.catch(() => undefined); // awaited below

    result.fetchedBytes = await writePlannedContents({ ...o, plan, workers, stats, ready: foldersMade });
    await Promise.all([allLinked, linkEntries(workers, stats, plan.linkAfterFetch)]);
    if (links.length > 0) await workers.run({ op: 'symlinks', pairs: links.map((l) => [l.target, at(l.path)]) });

    return await sealRelease({ ...o, workers, stats, result, root, folders: folders.map((folder) => folder.slice(root.length + 1)) });
  } catch (error) {
    throw Object.assign(installError(error) as object, { written: [...workers.written] });
  } finally {
    if (!o.workers) await workers.close();
  }
}

/** A release stored as one archive (before content objects): unpacked, verified, into a temporary folder; its files are copied in as objects. */
async function fetchFromLegacyArchive(o: {
  store: BlobStore;
  app: string;
  id: string;
  manifest: ReleaseManifest;
  plan: ContentPlan;
  copy: (copies: ContentPlan['copies']) => Promise<void>;
}): Promise<number> {
  const downloadDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-fetch-'));
  try {
    const fetched = await fetchLegacyArchive(o.store, o.app, o.id, downloadDir);
    const tree = path.join(downloadDir, 'tree');
    await unpackRelease({ archivePath: fetched.archivePath, manifest: o.manifest, destDir: tree });
    const pathOf = new Map(o.manifest.files.map((f) => [f.sha256, f.path]));
    const fromArchive = [...o.plan.toFetch].flatMap(([digest, { targets }]) => targets.map((t) => ({ from: path.join(tree, ...pathOf.get(digest)!.split('/')), ...t })));
    await o.copy([...o.plan.copies, ...fromArchive]);
    return (await fs.stat(fetched.archivePath)).size;
  } finally {
    await fs.rm(downloadDir, { recursive: true, force: true });
  }
}
