/**
 * Temporary folders for tests: one fresh folder under the OS temp folder, removed
 * when the test (or suite) that asked for it ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Something with an `after` hook: a test's context, a suite's `{ after }`, or a bench's own list. */
export interface AfterHook {
  after(fn: () => unknown): void;
}

/** A fresh temp folder, removed after the test (read-only folders included). */
export function tempDir(t: AfterHook, prefix = 'slipway-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => removeTree(dir));
  return dir;
}

/** rm -rf that also gets through read-only folders (installed releases are made read-only). */
export function removeTree(dir: string): void {
  const makeWritable = (at: string) => {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(at);
    } catch {
      return;
    }
    if (!stat.isDirectory()) return;
    fs.chmodSync(at, 0o755);
    for (const name of fs.readdirSync(at)) makeWritable(path.join(at, name));
  };
  makeWritable(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}
