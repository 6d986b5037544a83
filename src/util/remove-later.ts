/**
 * Removing a build's temporary folder without making the user wait for it: the export of
 * an app with a node_modules of 60,000 files takes 1.5 s or more to delete on a small
 * server, longer than slipway's hashing of it. A big folder is renamed out of the way at
 * once and removed by a detached process; a small one, or one that process cannot take,
 * is removed here.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';

/** Below this many entries, removing costs less than starting a process. */
const DETACH_FROM_ENTRIES = 5_000;
/** Folders being removed in the background end with this (a bench waits for them to go). */
export const REMOVING_SUFFIX = '.removing';
const REMOVE = "require('node:fs').rmSync(process.argv[1], { recursive: true, force: true })";

/** Removes `dir` (holding about `entries` files): in the background when it is big. */
export async function removeTemporaryFolder(dir: string, entries: number): Promise<void> {
  let left = dir;
  if (entries >= DETACH_FROM_ENTRIES) {
    const doomed = `${dir}${REMOVING_SUFFIX}`;
    try {
      await fs.rename(dir, doomed);
      left = doomed;
      // An argument array, never a shell: the path is passed as data.
      const child = spawn(process.execPath, ['-e', REMOVE, doomed], { detached: true, stdio: 'ignore' });
      const started = await new Promise<boolean>((resolve) => {
        child.once('spawn', () => resolve(true));
        child.once('error', () => resolve(false));
      });
      child.unref();
      if (started) return;
    } catch {
      // not renamed: removed here below
    }
  }
  await fs.rm(left, { recursive: true, force: true });
}
