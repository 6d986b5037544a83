/**
 * Shared pieces of the hostile input corpus: temp folders, "nothing changed on disk"
 * snapshots, error assertions, fast-check settings that print a reproducible seed,
 * a deadline for code that might hang, in-memory releases and extra tar header kinds
 * (GNU long names, sparse files, ustar prefixes, base-256 sizes) on top of
 * test/release/tar-fixtures.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type fc from 'fast-check';
import type { ReleaseManifest } from '../../src/release/manifest.js';
import { ustarHeader, type RawEntry } from '../release/tar-fixtures.js';

// Temp folders and error assertions have their homes in test/helpers; re-exported for this folder's tests.
export { tempDir as tempRoot } from '../helpers/temp-dir.js';
export { assertSlipwayError, expectRejects, expectThrows } from '../helpers/expect-error.js';

/** Object.prototype's own keys when this module loaded, before any hostile input was parsed. */
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

/** Asserts that parsing hostile input added nothing to Object.prototype. */
export function assertPrototypeClean(): void {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTOTYPE_KEYS);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
}

/**
 * fast-check settings: `numRuns` runs, or the seed and path of a failure to replay
 * (FC_SEED=… FC_PATH=… node --test …). fast-check prints both when a property fails.
 */
export function fcOptions<T>(numRuns: number): fc.Parameters<T> {
  const seed = process.env.FC_SEED;
  if (seed === undefined || seed === '') return { numRuns };
  return { numRuns, seed: Number(seed), ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) };
}

/** Every path under `dir` (relative, folders end with '/') with its type, size and mode: to compare before and after. */
export function treeSnapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const childAbs = path.join(abs, entry.name);
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const info = fs.lstatSync(childAbs);
      if (entry.isDirectory()) {
        out.push(`${childRel}/ ${(info.mode & 0o7777).toString(8)}`);
        walk(childAbs, childRel);
      } else {
        out.push(`${childRel} ${entry.isFile() ? 'file' : entry.isSymbolicLink() ? 'link' : 'other'} ${info.size} ${(info.mode & 0o7777).toString(8)}`);
      }
    }
  };
  walk(dir, '');
  return out.sort();
}

/**
 * Runs `exportName` of the compiled module `moduleUrl` with `args` in a worker thread and
 * returns its result, or fails when it has not finished after `deadlineMs` (the worker is
 * then stopped): the only way to catch a hang in synchronous code without hanging the test.
 */
export function runWithDeadline<T>(o: { moduleUrl: URL; exportName: string; args: unknown[]; deadlineMs: number }): Promise<T> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.moduleUrl)
      .then((m) => m[workerData.exportName](...workerData.args))
      .then(
        (value) => parentPort.postMessage({ ok: true, value }),
        (error) => parentPort.postMessage({ ok: false, error: { name: error && error.name, code: error && error.code, message: String(error && error.message) } }),
      );
  `;
  const worker = new Worker(code, { eval: true, workerData: { moduleUrl: o.moduleUrl.href, exportName: o.exportName, args: o.args } });
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`${o.exportName} did not finish within ${o.deadlineMs} ms: it hangs on this input`));
    }, o.deadlineMs);
    worker.once('message', (message: { ok: boolean; value?: T; error?: { name: string; code?: string; message: string } }) => {
      clearTimeout(timer);
      void worker.terminate();
      if (message.ok) resolve(message.value as T);
      else reject(Object.assign(new Error(`${message.error?.name}: ${message.error?.message}`), { code: message.error?.code, workerError: message.error }));
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Rejects with a clear message when `promise` has not settled after `ms` (a hang), instead of letting the test time out. */
export async function withinDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms: it hangs`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A unique name for a file that an escaping entry would create: nothing by that name may ever appear. */
export function escapeName(): string {
  return `slipway-hostile-escape-${randomBytes(6).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Releases built in memory: the unpack boundary needs a manifest and an archive, not a git repo.

export interface MemoryRelease {
  manifest: ReleaseManifest;
  /** file contents by manifest path */
  contents: Map<string, Buffer>;
}

/** A valid manifest (schema 1, sorted files) for `files`; `0o755` for names in `executables`. */
export function memoryRelease(files: Record<string, Buffer | string>, executables: readonly string[] = []): MemoryRelease {
  const contents = new Map(Object.entries(files).map(([p, body]) => [p, Buffer.from(body)]));
  const paths = [...contents.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const manifest: ReleaseManifest = {
    schema: 1,
    app: 'demo',
    version: 'v1.0.0',
    commit: 'c'.repeat(40),
    message: 'hostile corpus',
    date: '2024-05-01T10:00:00.000Z',
    dirty: false,
    notes: '',
    requiredConfig: [],
    migrates: false,
    runtime: { services: [], data: { databases: [], folders: [] }, migrate: null, hooks: [], config: [] },
    files: paths.map((p) => {
      const body = contents.get(p)!;
      return { path: p, sha256: sha256(body), mode: executables.includes(p) ? 0o755 : 0o644, size: body.length };
    }),
  };
  return { manifest, contents };
}

/** The standard small release of the corpus: a script, a server, a binary-ish blob, an empty file. */
export function sampleRelease(): MemoryRelease {
  const blob = Buffer.alloc(3000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 31 + 7) & 0xff;
  return memoryRelease(
    {
      'bin/start.sh': '#!/bin/sh\nexec node server.js\n',
      'server.js': 'console.log("hello");\n',
      'data/blob.bin': blob,
      'data/empty.txt': '',
    },
    ['bin/start.sh'],
  );
}

/** The release's own files as tar entries, in manifest order. */
export function fileEntries(release: MemoryRelease): RawEntry[] {
  return release.manifest.files.map((f) => ({ name: f.path, body: release.contents.get(f.path)!, mode: f.mode }));
}

// ---------------------------------------------------------------------------------------------
// Header kinds that tar-fixtures.ts does not build.

function fixChecksum(block: Buffer): Buffer {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

/** A ustar header with its 155-byte prefix field set (the path is prefix + '/' + name). */
export function headerWithPrefix(e: { name: string; prefix: string; size: number; type?: string }): Buffer {
  const block = ustarHeader({ name: e.name, size: e.size, type: e.type });
  Buffer.from(e.prefix, 'utf8').copy(block, 345, 0, 155);
  return fixChecksum(block);
}

/** A ustar header whose size field uses the GNU base-256 encoding (sizes past 8 GiB). */
export function headerWithHugeSize(e: { name: string; size: bigint; type?: string }): Buffer {
  const block = ustarHeader({ name: e.name, size: 0, type: e.type });
  block.fill(0, 124, 136);
  block[124] = 0x80;
  let value = e.size;
  for (let i = 135; i > 124; i--) {
    block[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return fixChecksum(block);
}

/** A header block followed by `body`, padded to whole blocks. */
export function withBody(header: Buffer, body: Buffer | string = ''): Buffer {
  const bytes = Buffer.from(body);
  return Buffer.concat([header, bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
}

/** A GNU long-name ('L') or long-link ('K') entry: the next entry's path (or link target) is `value`. */
export function gnuLongEntry(kind: 'L' | 'K', value: string | Buffer): RawEntry {
  return { name: '././@LongLink', type: kind, body: Buffer.concat([Buffer.from(value), Buffer.from([0])]) };
}

/** Two zero blocks: the end of a tar archive. */
export const END_OF_ARCHIVE = Buffer.alloc(1024);
