/**
 * The file system work of installing a release, run in worker threads: tens of
 * thousands of small synchronous calls (mkdir, write, link, lstat) that would otherwise
 * hold the agent's event loop, and with it the proxy that serves the app meanwhile.
 * Two workers on two cores also finish in about half the time of one.
 *
 * Each message is one batch of one operation; the reply says what was done, so that a
 * failed install can take back the objects it wrote. Nothing here decides anything: the
 * main thread plans, a worker does, and checks every content against its digest before
 * it writes it.
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, fstatSync, futimesSync, linkSync, lstatSync, mkdirSync, openSync, rmdirSync, symlinkSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { inflateRawSync } from 'node:zlib';
import { OBJECT_MTIME_S } from './objects.js';

/** One content to write: it becomes the file at `firstPath` and, linked, the object at `objectFile` (none when ''). */
export interface ObjectWrite {
  digest: string;
  size: number;
  mode: number;
  /** 0 raw, 1 deflate */
  encoding: number;
  /** where its stored bytes are in the batch's buffer */
  start: number;
  end: number;
  firstPath: string;
  objectFile: string;
}

export type InstallOp =
  | { op: 'mkdirs'; dirs: string[] }
  /** writes each content (checked first) as a new file and answers its [inode, size, mtimeMs] */
  | { op: 'writeObjects'; buffer: Uint8Array; objects: ObjectWrite[] }
  /** copies each object to a new file with the other mode and answers its [inode, size, mtimeMs] */
  | { op: 'copyObjects'; copies: Array<{ from: string; mode: number; firstPath: string; objectFile: string }> }
  /** links each file in as its object when it is still as installed ([inode, size, mtimeMs]) and the object is not there yet */
  | { op: 'adoptObjects'; entries: Array<[file: string, objectFile: string, ino: number, size: number, mtimeMs: number]> }
  /** links each pair and answers the new link's [inode, size, mtimeMs] (the stat snapshot's entries, taken while the name is fresh in the cache) */
  | { op: 'links'; pairs: Array<[from: string, to: string]> }
  | { op: 'symlinks'; pairs: Array<[target: string, at: string]> }
  | { op: 'chmods'; dirs: string[]; mode: number }
  /** answers each folder's `inode:ctime in ns`: any entry made, removed or renamed in a folder, or a chmod of it, changes its ctime, which no program can set back short of changing the clock */
  | { op: 'folderStamps'; dirs: string[] }
  /** removes files and links (never a folder, never through a link) */
  | { op: 'unlinks'; paths: string[] }
  /** removes empty folders, in the order given */
  | { op: 'rmdirs'; dirs: string[] };

export type InstallReply =
  | { id: number; ok: true; written: string[]; stats?: number[]; texts?: string[] }
  | { id: number; ok: false; written: string[]; error: { code: string; message: string; path?: string; errno?: string } };

class ContentMismatch extends Error {
  constructor(
    readonly digest: string,
    why: string,
  ) {
    super(why);
  }
}

function decode(o: ObjectWrite, stored: Uint8Array): Uint8Array {
  let content: Uint8Array;
  if (o.encoding === 0) content = stored;
  else {
    try {
      // Never inflate more than the manifest says the file holds.
      content = inflateRawSync(stored, { maxOutputLength: Math.max(1, o.size) });
    } catch (error) {
      throw new ContentMismatch(o.digest, `it does not inflate: ${(error as Error).message}`);
    }
  }
  if (content.length !== o.size) throw new ContentMismatch(o.digest, `${content.length} bytes instead of ${o.size}`);
  const actual = createHash('sha256').update(content).digest('hex');
  if (actual !== o.digest) throw new ContentMismatch(o.digest, `its digest is ${actual.slice(0, 12)}`);
  return content;
}

/** Writes a new file; answers its [inode, size, mtimeMs] (the stat snapshot's entry), from the open descriptor. */
function writeNew(file: string, content: Uint8Array, mode: number, out: number[]): void {
  // Created read-only: the descriptor opened at creation may still write, nothing later can.
  const fd = openSync(file, 'wx', mode & 0o555);
  try {
    let written = 0;
    while (written < content.length) written += writeSync(fd, content, written, content.length - written);
    futimesSync(fd, OBJECT_MTIME_S, OBJECT_MTIME_S);
    const stat = fstatSync(fd);
    out.push(stat.ino, stat.size, stat.mtimeMs);
  } finally {
    closeSync(fd);
  }
}

/** Links a just-written file in as the object; one already there (the same content) is fine. */
function linkAsObject(file: string, objectFile: string): boolean {
  try {
    linkSync(file, objectFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function run(message: InstallOp, written: string[]): number[] | string[] | undefined {
  switch (message.op) {
    case 'mkdirs':
      for (const dir of message.dirs) mkdirSync(dir, { mode: 0o755 });
      return undefined;
    case 'writeObjects': {
      const out: number[] = [];
      for (const o of message.objects) {
        const content = decode(o, message.buffer.subarray(o.start, o.end));
        writeNew(o.firstPath, content, o.mode, out);
        if (o.objectFile !== '' && linkAsObject(o.firstPath, o.objectFile)) written.push(o.objectFile);
      }
      return out;
    }
    case 'copyObjects': {
      const out: number[] = [];
      for (const c of message.copies) {
        copyFileSync(c.from, c.firstPath);
        chmodSync(c.firstPath, c.mode & 0o555);
        utimesSync(c.firstPath, OBJECT_MTIME_S, OBJECT_MTIME_S);
        const stat = lstatSync(c.firstPath);
        out.push(stat.ino, stat.size, stat.mtimeMs);
        if (c.objectFile !== '' && linkAsObject(c.firstPath, c.objectFile)) written.push(c.objectFile);
      }
      return out;
    }
    case 'adoptObjects':
      for (const [file, objectFile, ino, size, mtimeMs] of message.entries) {
        const stat = lstatSync(file, { throwIfNoEntry: false });
        if (stat?.isFile() && stat.ino === ino && stat.size === size && stat.mtimeMs === mtimeMs) linkAsObject(file, objectFile);
      }
      return undefined;
    case 'links': {
      const out: number[] = [];
      for (const [from, to] of message.pairs) {
        linkSync(from, to);
        const stat = lstatSync(to);
        out.push(stat.ino, stat.size, stat.mtimeMs);
      }
      return out;
    }
    case 'symlinks':
      for (const [target, at] of message.pairs) symlinkSync(target, at);
      return undefined;
    case 'chmods':
      for (const dir of message.dirs) chmodSync(dir, message.mode);
      return undefined;
    case 'folderStamps':
      return message.dirs.map((dir) => {
        const stat = lstatSync(dir, { bigint: true });
        return stat.isDirectory() ? `${stat.ino}:${stat.ctimeNs}` : 'not a folder';
      });
    case 'unlinks':
      for (const p of message.paths) unlinkSync(p);
      return undefined;
    case 'rmdirs':
      for (const dir of message.dirs) rmdirSync(dir);
      return undefined;
  }
}

parentPort?.on('message', ({ id, message }: { id: number; message: InstallOp }) => {
  const written: string[] = [];
  try {
    const answer = run(message, written);
    const reply = answer === undefined ? {} : message.op === 'folderStamps' ? { texts: answer as string[] } : { stats: answer as number[] };
    parentPort!.postMessage({ id, ok: true, written, ...reply } satisfies InstallReply);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const code = error instanceof ContentMismatch ? 'CONTENT_MISMATCH' : 'FS_ERROR';
    const detail = error instanceof ContentMismatch ? error.digest : e.path;
    parentPort!.postMessage({ id, ok: false, written, error: { code, message: e.message, ...(detail ? { path: detail } : {}), ...(e.code ? { errno: e.code } : {}) } } satisfies InstallReply);
  }
});
