/**
 * Reading a built tree's files on every core: hashing them for the manifest, and
 * packing them for the store (read, checked against the digest the manifest gives,
 * compressed where that pays). A batch is many small files or one large one; a pack
 * batch answers with one buffer, handed over without a copy.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { encodeObjectSync } from '../util/encode-object.js';

export type FileOp =
  | { op: 'hash'; files: string[] }
  /** each item: the digest it must have and the file it is read from */
  | { op: 'pack'; items: Array<[digest: string, file: string]> };

export type FileReply =
  | { id: number; ok: true; op: 'hash'; sha256: string[]; sizes: number[]; modes: number[] }
  /** entries: [stored length, content size, encoding] per item, their bytes one after another in data */
  | { id: number; ok: true; op: 'pack'; data: Uint8Array; entries: number[] }
  | { id: number; ok: false; error: { code: string; message: string; digest?: string; actual?: string; errno?: string; path?: string } };

class ContentChanged extends Error {
  constructor(
    readonly digest: string,
    readonly actual: string,
  ) {
    super(`read ${actual.slice(0, 12)} where ${digest.slice(0, 12)} was expected`);
  }
}

const readBuffer = Buffer.allocUnsafe(1024 * 1024);

function hashOne(file: string): { sha256: string; size: number; mode: number } {
  const fd = openSync(file, 'r');
  try {
    const mode = fstatSync(fd).mode;
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const n = readSync(fd, readBuffer, 0, readBuffer.length, null);
      if (n === 0) break;
      hash.update(readBuffer.subarray(0, n));
      size += n;
    }
    return { sha256: hash.digest('hex'), size, mode };
  } finally {
    closeSync(fd);
  }
}

function run(id: number, message: FileOp): { reply: FileReply; transfer: ArrayBuffer[] } {
  if (message.op === 'hash') {
    const reply = { id, ok: true as const, op: 'hash' as const, sha256: [] as string[], sizes: [] as number[], modes: [] as number[] };
    for (const file of message.files) {
      const one = hashOne(file);
      reply.sha256.push(one.sha256);
      reply.sizes.push(one.size);
      reply.modes.push(one.mode);
    }
    return { reply, transfer: [] };
  }
  const parts: Uint8Array[] = [];
  const entries: number[] = [];
  let total = 0;
  for (const [digest, file] of message.items) {
    const content = readFileSync(file);
    const actual = createHash('sha256').update(content).digest('hex');
    if (actual !== digest) throw new ContentChanged(digest, actual);
    const encoded = encodeObjectSync(content);
    parts.push(encoded.data);
    entries.push(encoded.data.length, content.length, encoded.encoding);
    total += encoded.data.length;
  }
  // A buffer of its own (never a slice of Node's shared pool): it is handed over, not copied.
  const whole = parts.length === 1 && parts[0]!.byteOffset === 0 && parts[0]!.byteLength === parts[0]!.buffer.byteLength && total >= 4096;
  const data = whole ? parts[0]! : Buffer.allocUnsafeSlow(total);
  if (!whole) {
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.length;
    }
  }
  return { reply: { id, ok: true, op: 'pack', data, entries }, transfer: [data.buffer as ArrayBuffer] };
}

parentPort?.on('message', ({ id, message }: { id: number; message: FileOp }) => {
  try {
    const { reply, transfer } = run(id, message);
    parentPort!.postMessage(reply, transfer);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const changed = error instanceof ContentChanged ? { code: 'CONTENT_CHANGED', digest: error.digest, actual: error.actual } : { code: 'FS_ERROR' };
    parentPort!.postMessage({ id, ok: false, error: { ...changed, message: e.message, ...(e.code ? { errno: e.code } : {}), ...(e.path ? { path: e.path } : {}) } } satisfies FileReply);
  }
});
