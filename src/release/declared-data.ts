import path from 'node:path';
import type { DataConfig } from '../config/types.js';

/** Whether a release declares any data (databases or folders) for slipway to back up. */
export function hasData(data: DataConfig): boolean {
  return data.databases.length + data.folders.length > 0;
}

/**
 * Why the release serving now needs no backup before it is replaced, or null when it has
 * data to save. The one test behind the update pipeline's backup step and a fleet's
 * "back up every host first" stage, so a stateless app (no `data:` section) is skipped the
 * same way on one host as on many, instead of one of them treating it as a failure.
 */
export function nothingToBackUp(serving: { manifest: { runtime: { data: DataConfig } } } | null): string | null {
  if (!serving) return 'nothing deployed yet: no data to back up';
  if (!hasData(serving.manifest.runtime.data)) return 'no databases or folders configured';
  return null;
}

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

export function topSegment(relative: string): string {
  return relative.split('/').filter((s) => s.length > 0)[0]!;
}
