/**
 * One update at a time per host: a lock file naming who holds it, since when and why.
 *
 * The file appears complete or not at all: its content is written to a temp file which
 * is then hard-linked to the lock name. link() fails with EEXIST like an O_EXCL open, but
 * no reader ever sees the empty file an O_EXCL create leaves between open and write
 * (which would read as a torn, hence stale, lock and could be broken by a concurrent
 * `breakStale`).
 *
 * Taking it syncs nothing: the lock keeps running processes apart, which the file's name
 * does as soon as link() returns. A power cut ends every holder; whatever the disk kept
 * then (no lock, a torn one, a whole one) is a lock whose process is gone, which the
 * agent's start clears (recovery.ts), and the journal says what the cut update had done.
 * A synced lock would survive the cut just the same. Two fsyncs less in front of every
 * update, a warm rollback's switch included.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { fsyncDir } from '../util/atomic-write.js';

export interface LockInfo {
  /** what is updating, e.g. 'slipway deploy production' */
  holder: string;
  pid: number;
  hostname: string;
  /** ISO 8601 */
  since: string;
  reason: string;
  /** proves ownership at release time (a guard against mistakes, not a secret: the file is world-readable) */
  token: string;
}

export type LockStatus = LockInfo & {
  /** held by a process that no longer runs on this machine, or unreadable */
  stale: boolean;
  /** the file is not a valid lock (torn or edited by hand) */
  unreadable?: boolean;
};

export interface AcquireLockOptions {
  holder: string;
  reason: string;
  /** the process the lock is held for (default: this one) */
  pid?: number;
  /** replace a stale lock instead of refusing */
  breakStale?: boolean;
}

export async function acquireLock(file: string, options: AcquireLockOptions): Promise<LockInfo> {
  const info: LockInfo = {
    holder: options.holder,
    pid: options.pid ?? process.pid,
    hostname: os.hostname(),
    since: new Date().toISOString(),
    reason: options.reason,
    token: randomBytes(16).toString('hex'),
  };
  // A few rounds: each one either takes the lock, refuses, or removes a stale lock and tries again.
  for (let round = 0; round < 4; round++) {
    if (await createExclusive(file, info)) return info;
    const existing = await readLockText(file);
    if (existing === null) continue; // released between our attempt and our read
    const status = parseLock(existing.text, existing.mtime);
    if (!status.stale) throw hostLocked(file, status);
    if (!options.breakStale) throw staleError(file, status);
    await breakStaleLock(file, existing.text, info);
  }
  throw hostLocked(file, null);
}

/**
 * Refuses at once while a live process holds the lock; a stale lock is left for
 * acquireLock to report (HOST_LOCK_STALE) or break. Takes nothing: a check, not a lock.
 */
export async function assertHostNotLocked(file: string): Promise<void> {
  const lock = await readLock(file);
  if (lock && !lock.stale) throw hostLocked(file, lock);
}

/**
 * HOST_LOCKED, the one way it is said: who holds the host and how to get past it.
 * `holder` null: no one holder to name (other processes keep taking and releasing
 * the lock). `doing`: what the holder is busy with, when it is not an update.
 * Exit code 1: the operation could not run now; nothing was changed.
 */
export function hostLocked(file: string, holder: LockStatus | null, doing?: string): SlipwayError {
  if (holder === null) {
    return new SlipwayError('HOST_LOCKED', `Could not take the host lock ${file}: other processes keep taking and releasing it.`, {
      hint: 'Another update is starting right now; see `slipway lock status`, then try again.',
      exitCode: 1,
    });
  }
  return new SlipwayError('HOST_LOCKED', `The host is locked by ${describe(holder)}${doing ? `, which is ${doing}` : ''}.`, {
    hint: `Wait for it to finish; \`slipway lock status\` shows who holds the lock. If pid ${holder.pid} no longer runs on ${holder.hostname}, \`slipway lock release --force\` removes ${file}.`,
    exitCode: 1,
  });
}

/** Removes the lock only when `token` is the one it was acquired with: never someone else's lock. */
export async function releaseLock(file: string, token: string): Promise<void> {
  const existing = await readLockText(file);
  if (existing === null) return;
  const status = parseLock(existing.text, existing.mtime);
  if (status.unreadable || status.token !== token) return;
  await unlinkIfExists(file);
  await fsyncDir(path.dirname(file));
}

/** Removes the lock whoever holds it (`slipway lock release --force`); returns what it removed. */
export async function forceReleaseLock(file: string): Promise<LockStatus | null> {
  const existing = await readLockText(file);
  if (existing === null) return null;
  await unlinkIfExists(file);
  await removeStaleBreaker(file);
  await fsyncDir(path.dirname(file));
  return parseLock(existing.text, existing.mtime);
}

export async function readLock(file: string): Promise<LockStatus | null> {
  const existing = await readLockText(file);
  return existing === null ? null : parseLock(existing.text, existing.mtime);
}

/**
 * Whether a pid names a running process. EPERM means it runs under another user.
 * A pid reused by an unrelated process reads as alive: the lock then looks held and
 * `slipway lock release --force` is the way out.
 */
export function isProcessAlive(pid: number): boolean {
  // 0 and negative pids address process groups in kill(2): never a lock holder.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Puts `info` at `file` unless a file is already there; true when it did. */
async function createExclusive(file: string, info: LockInfo): Promise<boolean> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const content = JSON.stringify(info, null, 2) + '\n';
  await writeExclusive(temp, content);
  try {
    await fs.link(temp, file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (!LINK_UNSUPPORTED.has(code ?? '')) throw error;
    // A filesystem without hard links: O_EXCL create, accepting the brief empty-file window.
    try {
      await writeExclusive(file, content);
    } catch (fallbackError) {
      if ((fallbackError as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fallbackError;
    }
  } finally {
    await unlinkIfExists(temp);
  }
  return true;
}

const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Replaces a stale lock. Breakers take turns through `<file>.break` (created like the
 * lock itself), so two of them can never each remove the lock the other just took;
 * under it, the lock is removed only if it is still the very stale lock we read.
 */
async function breakStaleLock(file: string, staleText: string, info: LockInfo): Promise<void> {
  const breaker = `${file}.break`;
  if (!(await createExclusive(breaker, info))) {
    const other = await readLock(breaker);
    if (other !== null && !other.stale) {
      throw hostLocked(file, other, 'replacing a stale lock right now');
    }
    // A breaker that died mid-break: clear it; the caller's next round tries again.
    await removeStaleBreaker(file);
    return;
  }
  try {
    const now = await readLockText(file);
    if (now !== null && now.text === staleText) await unlinkIfExists(file);
  } finally {
    await unlinkIfExists(breaker);
  }
}

async function removeStaleBreaker(file: string): Promise<void> {
  const breaker = `${file}.break`;
  const status = await readLock(breaker);
  if (status?.stale) await unlinkIfExists(breaker);
}

function parseLock(text: string, mtime: Date): LockStatus {
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    if (
      typeof value === 'object' && value !== null &&
      typeof value.holder === 'string' && typeof value.pid === 'number' && typeof value.hostname === 'string' &&
      typeof value.since === 'string' && typeof value.reason === 'string' && typeof value.token === 'string'
    ) {
      const info: LockInfo = {
        holder: value.holder,
        pid: value.pid,
        hostname: value.hostname,
        since: value.since,
        reason: value.reason,
        token: value.token,
      };
      // A process on another machine (shared filesystem) cannot be checked: it counts as alive.
      const stale = info.hostname === os.hostname() && !isProcessAlive(info.pid);
      return { ...info, stale };
    }
  } catch {
    // falls through: unreadable
  }
  return {
    holder: 'unknown (unreadable lock file)',
    pid: 0,
    hostname: '',
    since: mtime.toISOString(),
    reason: 'the lock file is not a valid lock (torn write or edited by hand)',
    token: '',
    stale: true,
    unreadable: true,
  };
}

function describe(status: LockStatus): string {
  if (status.unreadable) return `an unreadable lock file (last written ${status.since})`;
  return `"${status.holder}" (pid ${status.pid} on ${status.hostname}, since ${status.since}, reason: ${status.reason})`;
}

function staleError(file: string, status: LockStatus): SlipwayError {
  const why = status.unreadable ? '' : ` Process ${status.pid} no longer runs on this machine.`;
  return new SlipwayError('HOST_LOCK_STALE', `The host lock is stale: it was left by ${describe(status)}.${why}`, {
    hint: `The update it belonged to was interrupted. Check \`slipway status\`, then remove ${file} with \`slipway lock release --force\`.`,
    exitCode: 1,
  });
}

async function readLockText(file: string): Promise<{ text: string; mtime: Date } | null> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const [text, stat] = await Promise.all([handle.readFile('utf8'), handle.stat()]);
      return { text, mtime: stat.mtime };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** O_EXCL create, write (no sync: see the top of this file). */
async function writeExclusive(file: string, content: string): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o644);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
}

async function unlinkIfExists(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
