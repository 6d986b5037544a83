/** Quieting the machine between timed phases of a bench. */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import { REMOVING_SUFFIX } from '../src/util/remove-later.js';

const run = promisify(execFile);

/**
 * Waits until no build folder is being removed in the background (src/util/remove-later.ts)
 * in `tmp`, then flushes the disk: what earlier phases deleted or wrote (hundreds of MB)
 * would otherwise land on the next timed phase. Answers how long it waited.
 */
export async function settle(tmp = os.tmpdir(), timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  for (const until = Date.now() + timeoutMs; Date.now() < until; ) {
    const names = await readdir(tmp).catch(() => [] as string[]);
    if (!names.some((name) => name.startsWith('slipway-') && name.endsWith(REMOVING_SUFFIX))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await run('sync');
  return performance.now() - t0;
}
