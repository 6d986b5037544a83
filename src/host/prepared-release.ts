/**
 * A prepared folder for the next release: a copy of an installed release made of hard
 * links (releases/.prepared-<id>), made while a deploy's health window runs. The next
 * install changes that copy into its own release in place, touching only what differs
 * (assemble-delta.ts), instead of making tens of thousands of links again.
 *
 * It is made and used only under the host's lock (inside an update), so nothing of
 * slipway's changes the releases folder meanwhile. Beside it, manifests/<id>.prepared.json
 * records the stat snapshot of its files and each folder's inode and ctime, taken once it
 * was complete: a folder whose entries were changed (made, removed, renamed, replaced) or
 * whose permissions were, has another ctime, which no program can set back short of
 * changing the clock. A copy whose record is missing or does not match is removed, never
 * used.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ReleaseManifest } from '../release/manifest.js';
import { manifestFolders } from '../release/manifest-folders.js';
import type { StatSnapshot } from '../release/verify-tree.js';
import type { BlobStore } from '../store/blob-store.js';
import { assembleRelease, chunks } from './assemble-release.js';
import { startInstallWorkers, type InstallWorkers } from './install-workers.js';
import { isValidReleaseId, type HostLayout } from './layout.js';
import { removeReadOnlyFolder } from './remove-folder.js';

const PREPARED = '.prepared-';
const PREPARING = '.preparing-';

/** What was true of a prepared copy when it was complete. */
export interface PreparedRecord {
  /** [inode, size, mtimeMs] of each file, in manifest order */
  snapshot: StatSnapshot;
  /** `inode:ctimeNs` of the copy's top folder and then of each of its folders, in path order */
  folders: string[];
}

/** The installed release a prepared copy was made of, where the copy is, and its record. */
export interface PreparedBase {
  id: string;
  manifest: ReleaseManifest;
  dir: string;
  record: PreparedRecord;
}

export function preparedDir(layout: HostLayout, id: string): string {
  return path.join(layout.releasesDir, `${PREPARED}${id}`);
}

function recordFile(layout: HostLayout, id: string): string {
  return path.join(layout.manifestsDir, `${id}.prepared.json`);
}

/** The release id a prepared folder copies, or null for a name that is not one. */
export function preparedReleaseOf(name: string): string | null {
  if (!name.startsWith(PREPARED)) return null;
  const id = name.slice(PREPARED.length);
  return isValidReleaseId(id) ? id : null;
}

/** Removes the prepared copy of `id` and its record. */
export async function removePreparedRelease(layout: HostLayout, id: string): Promise<void> {
  await fs.rm(recordFile(layout, id), { force: true });
  await removeReadOnlyFolder(preparedDir(layout, id));
}

/** Removes every prepared copy (and record) but `keep`'s, and every copy a crash left half made. */
export async function removePreparedReleases(layout: HostLayout, keep?: string): Promise<void> {
  for (const name of await fs.readdir(layout.releasesDir).catch(() => [] as string[])) {
    const copies = preparedReleaseOf(name);
    if (name.startsWith(PREPARING) || (name.startsWith(PREPARED) && copies !== keep)) await removeReadOnlyFolder(path.join(layout.releasesDir, name));
  }
  for (const name of await fs.readdir(layout.manifestsDir).catch(() => [] as string[])) {
    if (name.endsWith('.prepared.json') && name !== `${keep}.prepared.json`) await fs.rm(path.join(layout.manifestsDir, name), { force: true });
  }
}

/** The stamps of the top folder `dir` and of its `folders` (relative, as foldersOfEntries gives them), in the install workers. */
export async function folderStamps(workers: InstallWorkers, dir: string, folders: readonly string[]): Promise<string[]> {
  const all = [dir, ...folders.map((rel) => `${dir}/${rel}`)];
  const parts = await Promise.all(chunks(all, workers.size * 4).map((dirs) => workers.texts({ op: 'folderStamps', dirs })));
  return parts.flat();
}

/**
 * Makes the prepared copy of release `id` (installed), unless it is there already.
 * Answers what happened, for the step's line.
 */
export async function prepareNextRelease(o: { layout: HostLayout; store: BlobStore; app: string; id: string; manifest: ReleaseManifest }): Promise<'made' | 'present' | 'damaged'> {
  const { layout, id } = o;
  await removePreparedReleases(layout, id);
  if (await readPreparedRecord(layout, id)) return 'present';
  await removePreparedRelease(layout, id);
  const partial = path.join(layout.releasesDir, `${PREPARING}${id}-${randomBytes(6).toString('hex')}`);
  const snapshotFile = `${partial}.stat.json`;
  await fs.mkdir(partial, { mode: 0o700 });
  const workers = startInstallWorkers();
  try {
    const made = await assembleRelease({ layout, store: o.store, app: o.app, id, manifest: o.manifest, dir: partial, snapshotFile, beforeReadOnly: async () => undefined, workers });
    if (made.damaged.length > 0) {
      await removeReadOnlyFolder(partial);
      return 'damaged';
    }
    const dir = preparedDir(layout, id);
    await fs.rename(partial, dir);
    // Stamped after the rename: renaming a folder changes its ctime.
    const record: PreparedRecord = { snapshot: JSON.parse(await fs.readFile(snapshotFile, 'utf8')) as StatSnapshot, folders: await folderStamps(workers, dir, manifestFolders(o.manifest)) };
    await fs.writeFile(recordFile(layout, id), JSON.stringify(record));
    await waitPastStamps(record.folders);
    return 'made';
  } catch (error) {
    await removeReadOnlyFolder(partial);
    await removePreparedRelease(layout, id);
    throw error;
  } finally {
    await workers.close();
    await fs.rm(snapshotFile, { force: true });
  }
}

/**
 * File times come from a clock that moves a tick (up to 10 ms) at a time: a folder changed again in
 * the tick of its last change keeps its ctime. The copy is handed over only once the clock is past
 * every ctime its record holds, so that any later change shows.
 */
async function waitPastStamps(stamps: string[]): Promise<void> {
  let newestNs = 0n;
  for (const stamp of stamps) {
    const ns = stamp.slice(stamp.indexOf(':') + 1);
    if (/^\d+$/.test(ns) && BigInt(ns) > newestNs) newestNs = BigInt(ns);
  }
  const aheadMs = Number((newestNs - BigInt(Date.now()) * 1_000_000n) / 1_000_000n);
  await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(aheadMs + 20, 0), 1_000)));
}

async function readPreparedRecord(layout: HostLayout, id: string): Promise<PreparedRecord | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(recordFile(layout, id), 'utf8')) as Partial<PreparedRecord>;
    if (!Array.isArray(parsed.snapshot) || !Array.isArray(parsed.folders)) return null;
    if (!(await fs.lstat(preparedDir(layout, id)).then((s) => s.isDirectory(), () => false))) return null;
    return { snapshot: parsed.snapshot, folders: parsed.folders };
  } catch {
    return null;
  }
}

/**
 * The prepared copy on this host, of an installed release (`manifestOf` reads one), with its
 * record, when it is as its record says; every other copy and record goes, and so does that
 * one when it is not. Answers as soon as the copy's folders are being stamped (in `workers`),
 * so that the caller's own work runs meanwhile: `verdict` is the copy, or null when there is
 * none to use.
 */
export async function findPreparedBase(layout: HostLayout, manifestOf: (id: string) => Promise<ReleaseManifest | null>, workers: InstallWorkers): Promise<{ verdict: Promise<PreparedBase | null> }> {
  for (const name of await fs.readdir(layout.releasesDir).catch(() => [] as string[])) {
    const id = preparedReleaseOf(name);
    if (id === null) continue;
    const manifest = await manifestOf(id).catch(() => null);
    if (!manifest) continue;
    const dir = preparedDir(layout, id);
    const stamps = folderStamps(workers, dir, manifestFolders(manifest));
    stamps.catch(() => undefined); // a copy without a record is not stamped
    const record = readPreparedRecord(layout, id);
    const verdict = (async (): Promise<PreparedBase | null> => {
      const found = await record;
      const base = found && { id, manifest, dir, record: found };
      // Anything missing or unreadable in the copy is a mismatch too.
      const same = base !== null && (await matchesRecord(base, stamps).catch(() => false));
      await removePreparedReleases(layout, same ? id : undefined);
      return same ? base : null;
    })();
    return { verdict };
  }
  return { verdict: removePreparedReleases(layout).then(() => null) };
}

/** True when the copy's folders are the very ones its record stamped, none changed since. */
async function matchesRecord(base: PreparedBase, stamping: Promise<string[]>): Promise<boolean> {
  const stamps = await stamping;
  if (base.record.snapshot.length !== base.manifest.files.length) return false;
  return stamps.length === base.record.folders.length && stamps.every((stamp, i) => stamp === base.record.folders[i]);
}
