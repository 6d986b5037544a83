import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { DataConfig } from '../config/types.js';
import { sharedPaths, topSegment } from '../release/declared-data.js';

export { sharedPaths };

/** The shared paths whose folder a first deploy fills from the release (a seeded folder's top-level path is what is linked). */
export function seededPaths(data: DataConfig): Set<string> {
  return new Set((data.seed ?? []).map(topSegment));
}

/**
 * Links each shared path of the release to shared/<path> (created when missing).
 * A release that ships something at a shared path would shadow the user's data:
 * an empty folder is replaced by the link, anything else is refused. A seeded
 * folder (`data.folders: [{ path, seed: true }]`) is the exception: what the release
 * ships there fills shared/<path> when that does not exist yet (the first deploy),
 * and is left out otherwise: the shared folder is the app's from then on.
 */
export async function linkSharedPaths(options: { releaseDir: string; sharedDir: string; data: DataConfig }): Promise<void> {
  const seeded = seededPaths(options.data);
  for (const relative of sharedPaths(options.data)) {
    const target = path.join(options.sharedDir, relative);
    const linkPath = path.join(options.releaseDir, relative);
    const existing = await fs.lstat(linkPath).catch(() => null);
    if (existing?.isDirectory() && seeded.has(relative)) {
      await seedSharedFolder({ from: linkPath, to: target, relative });
      await fs.rm(linkPath, { recursive: true });
    }
    await fs.mkdir(target, { recursive: true, mode: 0o750 });
    if (existing?.isSymbolicLink()) {
      if ((await fs.readlink(linkPath)) === target) continue;
      await fs.rm(linkPath);
    } else if (existing?.isDirectory() && !seeded.has(relative)) {
      if ((await fs.readdir(linkPath)).length > 0) {
        throw new SlipwayError('RELEASE_SHADOWS_SHARED', `the release ships files in ${relative}/, which holds persistent data on the host`, {
          hint: `leave ${relative}/ out of the release (build.exclude in slipway.yml): it is linked to the host's shared/${relative}; or, to start the shared folder from these files, list it as { path: ${relative}, seed: true } under data.folders`,
        });
      }
      await fs.rmdir(linkPath);
    } else if (existing && !existing.isDirectory()) {
      throw new SlipwayError('RELEASE_SHADOWS_SHARED', `the release ships a file at ${relative}, which is a shared data path on the host`, {
        hint: `leave ${relative} out of the release (build.exclude in slipway.yml)`,
      });
    }
    await fs.symlink(target, linkPath);
  }
}

/**
 * Copies the release's folder to shared/<path> when nothing is there yet. The copy
 * is made beside it and renamed into place, so a crash leaves no half-seeded folder
 * that a later deploy would take for the app's data. Links are copied as links,
 * never followed; an existing shared folder (or file) is never overwritten.
 */
async function seedSharedFolder(o: { from: string; to: string; relative: string }): Promise<void> {
  if (await fs.lstat(o.to).then(() => true, () => false)) return;
  const partial = path.join(path.dirname(o.to), `.${path.basename(o.to)}.seeding`);
  await fs.rm(partial, { recursive: true, force: true });
  await fs.mkdir(path.dirname(o.to), { recursive: true, mode: 0o750 });
  try {
    await fs.cp(o.from, partial, { recursive: true, dereference: false, verbatimSymlinks: true, errorOnExist: true, force: false, preserveTimestamps: true });
    await makeOwnerWritable(partial);
    await fs.rename(partial, o.to);
  } catch (error) {
    await fs.rm(partial, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // Someone else made it meanwhile (ENOTEMPTY/EEXIST from the rename): theirs stands.
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await fs.lstat(o.to).then(() => true, () => false))) return;
    throw new SlipwayError('SHARED_SEED_FAILED', `could not fill shared/${o.relative} from the release: ${(error as Error).message}`, {
      hint: `check the free space and permissions of the host's shared folder ${path.dirname(o.to)}; nothing was left half copied`,
      cause: error,
    });
  }
}

/** A release's files are read-only (they are the host's shared objects); the app's copy of them is its own to change. */
async function makeOwnerWritable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o750);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name);
    if (entry.isDirectory()) await makeOwnerWritable(at);
    else if (entry.isFile()) await fs.chmod(at, ((await fs.lstat(at)).mode & 0o777) | 0o200);
  }
}
