import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { DataConfig } from '../config/types.js';

/**
 * The top-level paths of a release that are links into the host's shared/ folder:
 * every folder of user files, and the folder of each SQLite database. They persist
 * across releases, so they never live inside a release.
 */
export function sharedPaths(data: DataConfig): string[] {
  const paths = new Set<string>();
  for (const folder of data.folders) paths.add(topSegment(folder));
  for (const db of data.databases) {
    if (db.engine === 'sqlite') {
      const dir = path.posix.dirname(db.path);
      if (dir !== '.') paths.add(topSegment(dir));
    }
  }
  return [...paths].sort();
}

function topSegment(relative: string): string {
  return relative.split('/').filter((s) => s.length > 0)[0]!;
}

/**
 * Links each shared path of the release to shared/<path> (created when missing).
 * A release that ships something at a shared path would shadow the user's data:
 * an empty folder is replaced by the link, anything else is refused.
 */
export async function linkSharedPaths(options: { releaseDir: string; sharedDir: string; data: DataConfig }): Promise<void> {
  for (const relative of sharedPaths(options.data)) {
    const target = path.join(options.sharedDir, relative);
    await fs.mkdir(target, { recursive: true, mode: 0o750 });
    const linkPath = path.join(options.releaseDir, relative);
    const existing = await fs.lstat(linkPath).catch(() => null);
    if (existing?.isSymbolicLink()) {
      if ((await fs.readlink(linkPath)) === target) continue;
      await fs.rm(linkPath);
    } else if (existing?.isDirectory()) {
      if ((await fs.readdir(linkPath)).length > 0) {
        throw new SlipwayError('RELEASE_SHADOWS_SHARED', `the release ships files in ${relative}/, which holds persistent data on the host`, {
          hint: `leave ${relative}/ out of the release (build.exclude in slipway.yml): it is linked to the host's shared/${relative}`,
        });
      }
      await fs.rmdir(linkPath);
    } else if (existing) {
      throw new SlipwayError('RELEASE_SHADOWS_SHARED', `the release ships a file at ${relative}, which is a shared data path on the host`, {
        hint: `leave ${relative} out of the release (build.exclude in slipway.yml)`,
      });
    }
    await fs.symlink(target, linkPath);
  }
}
