// Shared pieces of the data layer's tests: temp hosts, servers (or a loud skip), byte flips.
import fs from 'node:fs';
import type { TestContext } from 'node:test';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { MariadbUnavailableError, startMariadb, type RunningMariadb } from '../helpers/mariadb.js';
import { PostgresUnavailableError, startPostgres, type RunningPostgres } from '../helpers/postgres.js';
import { tempDir, type AfterHook } from '../helpers/temp-dir.js';

// Temp folders have their home in test/helpers; re-exported for this folder's tests.
export { tempDir };

export async function tempHost(t: AfterHook): Promise<{ layout: HostLayout; ledger: Ledger }> {
  const layout = hostLayout(tempDir(t, 'slipway-host-'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  return { layout, ledger };
}

export function skipLoudly(t: TestContext, reason: string): void {
  t.diagnostic(`SKIPPED: ${reason}`);
  t.skip(reason);
}

/** A running PostgreSQL, or null after a loud skip when none can run here. */
export async function postgresOrSkip(t: TestContext): Promise<RunningPostgres | null> {
  try {
    return await startPostgres();
  } catch (err) {
    if (!(err instanceof PostgresUnavailableError)) throw err;
    skipLoudly(t, `PostgreSQL cannot run here: ${err.message}`);
    return null;
  }
}

/** A running MariaDB, or null after a loud skip when none can run here. */
export async function mariadbOrSkip(t: TestContext): Promise<RunningMariadb | null> {
  try {
    return await startMariadb();
  } catch (err) {
    if (!(err instanceof MariadbUnavailableError)) throw err;
    skipLoudly(t, `MariaDB cannot run here: ${err.message}`);
    return null;
  }
}

/** Inverts one byte of a file (default: the middle one). */
export function flipByte(file: string, offset?: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const at = offset ?? Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    byte[0] ^= 0xff;
    fs.writeSync(fd, byte, 0, 1, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every text field of an error (message, hint, details, and the same of its causes' messages). */
export function allErrorText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error as { message?: string; hint?: string; details?: string[]; stack?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    parts.push(e.message ?? '', e.hint ?? '', ...(e.details ?? []), e.stack ?? '');
  }
  return parts.join('\n');
}
