/**
 * The host's content objects: each file content of its installed releases once, under
 * objects/<2 hex>/<digest> (objects/<2 hex>/<digest>.x when executable: a hard link
 * shares the mode, so the two are different objects). Objects are read-only and written
 * only after their digest was checked; release folders are made of hard links to them,
 * so a release that changes one file costs one new object, and an object no release
 * links to any more (link count 1) is garbage.
 */
import { chmodSync, closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { HostLayout } from './layout.js';

export function objectPath(layout: HostLayout, digest: string, mode: number): string {
  return path.join(layout.objectsDir, digest.slice(0, 2), mode === 0o755 ? `${digest}.x` : digest);
}

/**
 * Whether the host holds the object, with the size the manifest gives. An object of
 * the wrong size is damaged: it is removed so that it is fetched again.
 */
export function hasObject(layout: HostLayout, digest: string, mode: number, size: number): boolean {
  const file = objectPath(layout, digest, mode);
  let stat;
  try {
    stat = lstatSync(file);
  } catch {
    return false;
  }
  if (stat.isFile() && stat.size === size) return true;
  rmSync(file, { force: true });
  return false;
}

/** Writes a checked content as an object: to a temp name first, so an object is always whole. Returns its path. */
export function writeObject(layout: HostLayout, digest: string, mode: number, content: Buffer): string {
  const file = objectPath(layout, digest, mode);
  mkdirSync(path.dirname(file), { recursive: true });
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  // Created read-only: the descriptor opened at creation may still write, nothing later can.
  const fd = openSync(temp, 'wx', mode & 0o555);
  try {
    let written = 0;
    while (written < content.length) written += writeSync(fd, content, written, content.length - written);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  return file;
}

/** The same content under the other mode: a local copy, no fetch. Returns its path. */
export function copyObject(layout: HostLayout, digest: string, fromMode: number, toMode: number): string {
  const file = objectPath(layout, digest, toMode);
  const temp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  copyFileSync(objectPath(layout, digest, fromMode), temp);
  chmodSync(temp, toMode & 0o555);
  renameSync(temp, file);
  return file;
}

/**
 * Removes objects that no release links to any more. Objects younger than `graceMs`
 * are kept: an install that is under way writes its objects before it links them.
 */
export async function collectHostObjects(layout: HostLayout, options: { graceMs?: number; now?: number } = {}): Promise<{ removed: number; freedBytes: number }> {
  const grace = options.graceMs ?? 10 * 60_000;
  const now = options.now ?? Date.now();
  let removed = 0;
  let freedBytes = 0;
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
    for (const name of names) {
      const file = path.join(dir, name);
      const stat = lstatSync(file, { throwIfNoEntry: false });
      if (!stat || !stat.isFile()) continue;
      const leftoverTemp = name.endsWith('.tmp');
      if (now - stat.mtimeMs < grace) continue;
      if (stat.nlink > 1 && !leftoverTemp) continue;
      unlinkSync(file);
      removed += 1;
      freedBytes += stat.size;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { removed, freedBytes };
}
