import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

/** What the real database servers the tests start (PostgreSQL, MariaDB) share. */

export { findFreePort } from '../../src/runtime/ports.js';

const run = promisify(execFile);

/**
 * As root, database servers refuse to run (or should not): the first of `candidates`
 * that exists and is not root owns the data folder. Not root: undefined (run as ourselves).
 */
export async function chooseServiceUser(candidates: string[]): Promise<{ name: string; uid: number; gid: number } | undefined | null> {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of candidates) {
    try {
      const uid = Number((await run('id', ['-u', name])).stdout.trim());
      const gid = Number((await run('id', ['-g', name])).stdout.trim());
      if (uid !== 0) return { name, uid, gid };
    } catch {
      // no such user: try the next one
    }
  }
  return null;
}

export function describeExecError(err: unknown): string {
  const e = err as { message?: string; stderr?: string; stdout?: string };
  return [e.message, e.stderr, e.stdout].filter(Boolean).join('\n').trim();
}

/** The last lines of a server's log, for a failure message. */
export function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no server log)';
  }
}
