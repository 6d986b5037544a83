/** Where a master's control socket lives, and masters stopped when the process exits. */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';

/** Unix socket paths are limited to ~104 bytes and ssh appends 17 characters while binding. */
export function shortTempRoot(): string {
  const tmp = os.tmpdir();
  return tmp.length <= 40 ? tmp : '/tmp';
}

/** Masters still running when the process exits are stopped, so none outlives the CLI. */
const liveMasters = new Map<ChildProcess, string>();
let exitHookInstalled = false;
export function trackMaster(child: ChildProcess, dir: string): void {
  liveMasters.set(child, dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [master, masterDir] of liveMasters) {
      master.kill('SIGTERM');
      rmSync(masterDir, { recursive: true, force: true });
    }
  });
}

/** A master that has ended needs no stopping at exit. */
export function untrackMaster(child: ChildProcess): void {
  liveMasters.delete(child);
}
