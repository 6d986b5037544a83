/**
 * The nonces of the management API's signed requests, each kept until a request
 * carrying it can no longer be valid. In memory for tests and tools; in a file
 * (mode 0600, under the host's run/) for the agent, so a request captured before
 * a restart is still refused after it.
 */
import { closeSync, fchmodSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { SlipwayError } from '../errors.js';

/** how far a request's timestamp may be from the agent's clock */
export const REPLAY_WINDOW_MS = 60_000;
const DEFAULT_MAX_ENTRIES = 50_000;

/** Nonces seen within the replay window. Bounded: when full of live nonces it refuses new requests rather than forget one. */
export interface NonceCache {
  /** false when the nonce was already used (a replay) or the cache is full */
  remember(nonce: string, nowMs: number): boolean;
  readonly size: number;
  close?(): void;
}

interface CacheOptions {
  windowMs?: number;
  maxEntries?: number;
}

export function createNonceCache(options: CacheOptions = {}): NonceCache {
  return nonceCache(new Map(), options, () => undefined);
}

/**
 * A nonce cache backed by `file`: what it holds is read back at start (expired
 * entries dropped), and every new nonce is appended before its request runs. The
 * file is rewritten with only live entries when it has grown well past them.
 */
export function openNonceFile(file: string, options: CacheOptions & { nowMs?: number } = {}): NonceCache {
  const nowMs = options.nowMs ?? Date.now();
  const seen = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw nonceFileFailure(file, error);
  }
  for (const line of text.split('\n')) {
    const match = /^(\d{1,15}) ([0-9A-Za-z_-]{1,128})$/.exec(line);
    if (match && Number(match[1]) > nowMs) seen.set(match[2]!, Number(match[1]));
  }
  let fd = -1;
  let lines = 0;
  const rewrite = () => {
    if (fd !== -1) closeSync(fd);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, [...seen].map(([nonce, expires]) => `${expires} ${nonce}\n`).join(''), { mode: 0o600 });
    renameSync(temp, file);
    fd = openSync(file, 'a', 0o600);
    fchmodSync(fd, 0o600);
    lines = seen.size;
  };
  try {
    rewrite();
  } catch (error) {
    throw nonceFileFailure(file, error);
  }
  const cache = nonceCache(seen, options, (nonce, expires) => {
    try {
      writeSync(fd, `${expires} ${nonce}\n`);
      lines += 1;
      if (lines > 1000 && lines > 4 * seen.size) rewrite();
    } catch (error) {
      throw nonceFileFailure(file, error);
    }
  });
  return {
    remember: (nonce, now) => cache.remember(nonce, now),
    get size() {
      return cache.size;
    },
    close() {
      if (fd !== -1) closeSync(fd);
      fd = -1;
    },
  };
}

function nonceCache(seen: Map<string, number>, options: CacheOptions, persist: (nonce: string, expires: number) => void): NonceCache {
  const windowMs = options.windowMs ?? REPLAY_WINDOW_MS;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  return {
    remember(nonce, nowMs) {
      // Entries are (nearly) in expiry order, so pruning stops at the first live one.
      for (const [key, expires] of seen) {
        if (expires > nowMs) break;
        seen.delete(key);
      }
      if (seen.has(nonce)) return false;
      if (seen.size >= maxEntries) return false;
      // A timestamp may be up to windowMs in the future: keep the nonce until it can no longer be valid.
      const expires = nowMs + 2 * windowMs;
      // Written down before it counts: a request whose nonce could not be kept is not run.
      persist(nonce, expires);
      seen.set(nonce, expires);
      return true;
    },
    get size() {
      return seen.size;
    },
  };
}

function nonceFileFailure(file: string, cause: unknown): SlipwayError {
  return new SlipwayError('MANAGEMENT_NONCES_UNWRITABLE', `cannot keep the management API's used nonces in ${file}: ${(cause as Error).message}`, {
    hint: 'the agent needs to write to its run/ folder; check its owner and free disk space',
    cause,
  });
}
