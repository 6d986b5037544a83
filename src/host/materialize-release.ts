/**
 * Makes a release folder out of the host's objects: folders, a hard link per file,
 * a symbolic link per link. Nothing is ever written through a link, by construction:
 * the manifest never places an entry under one of its links (checked when it is
 * parsed), the folder is new, and the links are made last. Files are never opened
 * here at all: a hard link to a read-only object is the file.
 */
import { linkSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { ReleaseManifest } from '../release/manifest.js';
import type { StatSnapshot } from '../release/verify-tree.js';
import { objectPath } from './objects.js';
import type { HostLayout } from './layout.js';

/** How many synchronous file system calls run between two turns of the event loop (the agent's proxy keeps serving meanwhile). */
const BATCH = 400;

const yieldToEventLoop = () => new Promise((resolve) => setImmediate(resolve));

function linkFailed(entry: string, error: Error): SlipwayError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SlipwayError('HOST_DISK_FULL', `The host's disk is full: release entry ${JSON.stringify(entry)} could not be created (${code}).`, {
      hint: 'Free space on the host (`slipway prune <env>` removes old releases), then try again; nothing was installed.',
      cause: error,
    });
  }
  return new SlipwayError('RELEASE_INSTALL_FAILED', `Could not create ${JSON.stringify(entry)} in the release folder: ${error.message}`, {
    hint: 'Nothing was installed; check the host folder and try again.',
    cause: error,
  });
}

/** Every folder that holds a manifest entry ('a/b' for 'a/b/c.txt'), parents before children. */
export function foldersOfEntries(paths: Iterable<string>): string[] {
  const folders = new Set<string>();
  for (const p of paths) {
    for (let end = p.indexOf('/'); end !== -1; end = p.indexOf('/', end + 1)) folders.add(p.slice(0, end));
  }
  return [...folders].sort();
}

/** Creates the release's entries in `dir` (which must be new and empty) from objects the host holds. */
export async function materializeRelease(o: { layout: HostLayout; manifest: ReleaseManifest; dir: string }): Promise<void> {
  const links = o.manifest.links ?? [];
  let calls = 0;
  const step = async () => {
    calls += 1;
    if (calls % BATCH === 0) await yieldToEventLoop();
  };
  for (const folder of foldersOfEntries([...o.manifest.files.map((f) => f.path), ...links.map((l) => l.path)])) {
    try {
      mkdirSync(path.join(o.dir, ...folder.split('/')), { mode: 0o755 });
    } catch (error) {
      throw linkFailed(folder, error as Error);
    }
    await step();
  }
  for (const file of o.manifest.files) {
    try {
      linkSync(objectPath(o.layout, file.sha256, file.mode), path.join(o.dir, ...file.path.split('/')));
    } catch (error) {
      throw linkFailed(file.path, error as Error);
    }
    await step();
  }
  for (const link of links) {
    try {
      symlinkSync(link.target, path.join(o.dir, ...link.path.split('/')));
    } catch (error) {
      throw linkFailed(link.path, error as Error);
    }
    await step();
  }
}

/**
 * What each file looked like when it was installed: `verify` re-hashes only the files
 * that no longer look like this. Taken before the shared data links are made, so no
 * lstat ever goes through a link.
 */
export async function writeStatSnapshot(o: { dir: string; manifest: ReleaseManifest; file: string }): Promise<void> {
  const snapshot: StatSnapshot = [];
  for (let i = 0; i < o.manifest.files.length; i++) {
    const stat = lstatSync(path.join(o.dir, ...o.manifest.files[i]!.path.split('/')));
    snapshot.push([stat.ino, stat.size, stat.mtimeMs]);
    if (i % BATCH === BATCH - 1) await yieldToEventLoop();
  }
  writeFileSync(o.file, JSON.stringify(snapshot));
}
