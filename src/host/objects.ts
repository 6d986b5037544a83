/**
 * The host's content objects: each file content of its installed releases once, under
 * objects/<2 hex>/<digest> (objects/<2 hex>/<digest>.x when executable: a hard link
 * shares the mode, so the two are different objects). Objects are read-only and made
 * only after their digest was checked (assemble-release.ts); release files are hard links to them,
 * so a release that changes one file costs one new object, and an object no release
 * links to any more (link count 1) is garbage.
 */
import { lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { HostLayout } from './layout.js';

/**
 * Every object's modification time: an object never changes once made, so a file of a
 * release whose time is not this one was written to since (by hand, on the server) and
 * its object is not reused for another release.
 */
export const OBJECT_MTIME_S = 946_684_800; // 2000-01-01T00:00:00Z

/** The object's file name: its digest, with `.x` when executable. */
export function objectName(digest: string, mode: number): string {
  return mode === 0o755 ? `${digest}.x` : digest;
}

export function objectPath(layout: HostLayout, digest: string, mode: number): string {
  return `${layout.objectsDir}/${digest.slice(0, 2)}/${objectName(digest, mode)}`;
}

/** The 256 folders objects live in, made once (not once per object). */
export function ensureObjectShards(layout: HostLayout): void {
  mkdirSync(layout.objectsDir, { recursive: true });
  const present = new Set(readdirSync(layout.objectsDir));
  for (let i = 0; i < 256; i++) {
    const shard = i.toString(16).padStart(2, '0');
    if (!present.has(shard)) mkdirSync(path.join(layout.objectsDir, shard), { recursive: true });
  }
}

/**
 * The names of every object the host holds: 256 folder reads, not one lookup per file. The
 * reads run on libuv's threads, so an install starts them before it fetches and checks the
 * manifest (50,000 names take a few hundred ms to list; the manifest as long to check).
 */
export async function listHostObjects(layout: HostLayout): Promise<Set<string>> {
  const names = new Set<string>();
  let shards: string[];
  try {
    shards = await readdir(layout.objectsDir);
  } catch {
    return names;
  }
  const listings = await Promise.all(shards.map((shard) => readdir(path.join(layout.objectsDir, shard)).catch(() => [] as string[]))); // not a folder: nothing of ours
  for (const listing of listings) for (const name of listing) if (!name.endsWith('.tmp')) names.add(name);
  return names;
}

/**
 * Which of these contents' objects (in either mode) the host holds, looked up one by one: for an
 * install that adds a few contents to a prepared copy, cheaper than listing every object.
 */
export async function objectsPresent(layout: HostLayout, files: readonly { sha256: string; mode: number }[]): Promise<Set<string>> {
  const names = new Set<string>();
  await Promise.all(
    files.flatMap((file) =>
      [0o644, 0o755].map(async (mode) => {
        const stat = await lstat(objectPath(layout, file.sha256, mode)).catch(() => null);
        if (stat?.isFile()) names.add(objectName(file.sha256, mode));
      }),
    ),
  );
  return names;
}

/**
 * Removes objects that no release links to any more (link count 1). An install links
 * each object it makes from its release folder first, so an object under way is never
 * at 1; those whose links changed within `graceMs` are kept all the same (the change
 * time moves with every link and unlink; the modification time of objects is fixed).
 */
export async function collectHostObjects(
  layout: HostLayout,
  options: { graceMs?: number; now?: number; /** look at these object files only (those of releases just removed) */ only?: ReadonlySet<string> } = {},
): Promise<{ removed: number; freedBytes: number }> {
  const grace = options.graceMs ?? 10 * 60_000;
  const now = options.now ?? Date.now();
  let removed = 0;
  let freedBytes = 0;
  const collect = (file: string) => {
    const stat = lstatSync(file, { throwIfNoEntry: false });
    if (!stat || !stat.isFile() || stat.nlink > 1 || now - stat.ctimeMs < grace) return;
    unlinkSync(file);
    removed += 1;
    freedBytes += stat.size;
  };
  if (options.only) {
    let n = 0;
    for (const file of options.only) {
      collect(file);
      if (++n % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return { removed, freedBytes };
  }
  let shards: string[];
  try {
    shards = readdirSync(layout.objectsDir);
  } catch {
    return { removed, freedBytes };
  }
  for (const shard of shards) {
    const dir = path.join(layout.objectsDir, shard);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) collect(path.join(dir, name));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { removed, freedBytes };
}
