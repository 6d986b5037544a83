/**
 * A prepared folder for the next release: a copy of the current release made of hard
 * links (releases/.prepared-<id>), made while a deploy's health window runs. The next
 * install takes it over and changes only what its release changes, instead of making
 * tens of thousands of links again (assemble-delta.ts): on a 50,000-file release that
 * is the difference between seconds and a fraction of one.
 *
 * It is made and taken only under the host's lock (inside an update), so nothing else
 * changes the releases folder meanwhile. It is trusted only after a check against the
 * release it copies (assemble-delta.ts); anything else is removed, never used.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ReleaseManifest } from '../release/manifest.js';
import type { StatSnapshot } from '../release/verify-tree.js';
import type { BlobStore } from '../store/blob-store.js';
import { assembleRelease } from './assemble-release.js';
import { isValidReleaseId, type HostLayout } from './layout.js';
import { removeReadOnlyFolder as removeFolder } from './remove-folder.js';

const PREPARED = '.prepared-';
const PREPARING = '.preparing-';

export function preparedDir(layout: HostLayout, id: string): string {
  return path.join(layout.releasesDir, `${PREPARED}${id}`);
}

/** The release id a prepared folder copies, or null for a name that is not one. */
export function preparedReleaseOf(name: string): string | null {
  if (!name.startsWith(PREPARED)) return null;
  const id = name.slice(PREPARED.length);
  return isValidReleaseId(id) ? id : null;
}

/** Removes every prepared folder but `keep`'s, and every one a crash left half made. */
export async function removePreparedReleases(layout: HostLayout, keep?: string): Promise<void> {
  for (const name of await fs.readdir(layout.releasesDir).catch(() => [] as string[])) {
    const copies = preparedReleaseOf(name);
    if (name.startsWith(PREPARING) || (name.startsWith(PREPARED) && (copies === null || copies !== keep))) await removeFolder(path.join(layout.releasesDir, name));
  }
}

/**
 * Makes the prepared folder of release `id` (installed, with its stat snapshot), unless
 * it is there already. Answers what happened, for the step's line.
 */
export async function prepareNextRelease(o: { layout: HostLayout; store: BlobStore; app: string; id: string; manifest: ReleaseManifest; snapshot: StatSnapshot | null }): Promise<'made' | 'present' | 'no-snapshot' | 'damaged'> {
  const { layout, id } = o;
  await removePreparedReleases(layout, id);
  if (await fs.lstat(preparedDir(layout, id)).then((s) => s.isDirectory(), () => false)) return 'present';
  // Without the release's snapshot the copy could not be checked when it is taken.
  if (o.snapshot === null) return 'no-snapshot';
  const partial = path.join(layout.releasesDir, `${PREPARING}${id}-${randomBytes(6).toString('hex')}`);
  const snapshotFile = `${partial}.stat.json`;
  await fs.mkdir(partial, { mode: 0o700 });
  try {
    const made = await assembleRelease({ layout, store: o.store, app: o.app, id, manifest: o.manifest, dir: partial, snapshotFile, beforeReadOnly: async () => undefined });
    if (made.damaged.length > 0) {
      await removeFolder(partial);
      return 'damaged';
    }
    await fs.rename(partial, preparedDir(layout, id));
    return 'made';
  } catch (error) {
    await removeFolder(partial);
    throw error;
  } finally {
    await fs.rm(snapshotFile, { force: true });
  }
}

/** Moves the prepared folder of release `id` to `to` (a new install's folder); false when there is none. */
export async function takePreparedRelease(layout: HostLayout, id: string, to: string): Promise<boolean> {
  try {
    await fs.rename(preparedDir(layout, id), to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
