/**
 * The host journal: an append-only JSON-lines file, one line before and one after each
 * pipeline step (and its undo). The ledger is for people; the journal is what crash
 * recovery reads, so a line is fsynced before append() resolves, unless it is appended
 * with `sync: false`: then the next synced line (or flush()) makes it durable with itself.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../util/atomic-write.js';

/** `facts`: what a step records before it acts on it (its undo reads them back after a crash). */
export type JournalPhase = 'begin' | 'facts' | 'end' | 'undo-begin' | 'undo-end';

export type JournalEntry = {
  /** ISO 8601, set by append() */
  at: string;
  deployment: string | number;
  step: string;
  phase: JournalPhase;
  outcome?: string;
  data?: Record<string, unknown>;
};

export interface Journal {
  readonly file: string;
  /**
   * Appends one entry and returns it with its `at`: durably (written and fsynced), or with
   * `sync: false` written only, until the next synced append or flush(), which cover it.
   */
  append(entry: Omit<JournalEntry, 'at'>, options?: { sync?: boolean }): Promise<JournalEntry>;
  /** Makes every line appended so far durable (one fsync, none when they all are). */
  flush(): Promise<void>;
  /** Every readable entry of one deployment, oldest first (the rotated file included). */
  entriesFor(deployment: string | number): Promise<JournalEntry[]>;
  /** The last n readable entries, oldest first. */
  lastEntries(n: number): Promise<JournalEntry[]>;
}

export interface JournalOptions {
  /** Rotate once the file has reached this size (default 5 MiB). */
  maxBytes?: number;
}

export const JOURNAL_MAX_BYTES = 5 * 1024 * 1024;

const PHASES: ReadonlySet<string> = new Set<JournalPhase>(['begin', 'facts', 'end', 'undo-begin', 'undo-end']);

export function openJournal(file: string, options: JournalOptions = {}): Journal {
  const maxBytes = options.maxBytes ?? JOURNAL_MAX_BYTES;
  const rotated = `${file}.1`;
  // Appends run one after another, so lines keep their order and a rotation never races a write.
  let queue: Promise<unknown> = Promise.resolve();
  // A line written and not yet fsynced: the next fsync of the file covers it, whichever handle makes it.
  let unsynced = false;

  async function appendNow(entry: Omit<JournalEntry, 'at'>, sync: boolean): Promise<JournalEntry> {
    const full: JournalEntry = { at: new Date().toISOString(), ...entry };
    const line = JSON.stringify(full) + '\n';
    await fs.mkdir(path.dirname(file), { recursive: true });

    const before = await fileSize(file);
    const rotateNow = before !== null && before >= maxBytes;
    if (rotateNow) {
      if (unsynced) await syncFile(file);
      unsynced = false;
      await fs.rename(file, rotated);
    }
    const handle = await fs.open(file, 'a+', 0o640);
    try {
      // A crash mid-write leaves a line without its newline; end it first so the torn
      // fragment stays one unreadable line instead of swallowing this entry.
      const { size } = await handle.stat();
      const prefix = size > 0 && !(await endsWithNewline(handle, size)) ? '\n' : '';
      await handle.write(prefix + line);
      if (sync) await handle.sync();
      unsynced = !sync;
    } finally {
      await handle.close();
    }
    // A new file (first write or after rotation) is durable only once its folder entry is.
    if (before === null || rotateNow) await fsyncDir(path.dirname(file));
    return full;
  }

  async function readAll(): Promise<JournalEntry[]> {
    return [...parseLines(await readIfExists(rotated)), ...parseLines(await readIfExists(file))];
  }

  return {
    file,
    append(entry, options) {
      const result = queue.then(() => appendNow(entry, options?.sync ?? true));
      queue = result.catch(() => undefined);
      return result;
    },
    flush() {
      const result = queue.then(async () => {
        if (!unsynced) return;
        await syncFile(file);
        unsynced = false;
      });
      queue = result.catch(() => undefined);
      return result;
    },
    async entriesFor(deployment) {
      const wanted = String(deployment);
      return (await readAll()).filter((entry) => String(entry.deployment) === wanted);
    },
    async lastEntries(n) {
      if (n <= 0) return [];
      const current = parseLines(await readIfExists(file));
      if (current.length >= n) return current.slice(-n);
      return [...parseLines(await readIfExists(rotated)), ...current].slice(-n);
    },
  };
}

/**
 * Parses journal text. Lines that are not a complete entry are skipped: a torn last
 * line is what a crash mid-append leaves behind, and recovery must still read the rest.
 */
export function parseLines(text: string): JournalEntry[] {
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (isEntry(value)) entries.push(value);
  }
  return entries;
}

function isEntry(value: unknown): value is JournalEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.at === 'string' &&
    (typeof v.deployment === 'string' || typeof v.deployment === 'number') &&
    typeof v.step === 'string' &&
    typeof v.phase === 'string' &&
    PHASES.has(v.phase)
  );
}

async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fileSize(file: string): Promise<number | null> {
  try {
    return (await fs.stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

async function endsWithNewline(handle: FileHandle, size: number): Promise<boolean> {
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

async function readIfExists(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}
