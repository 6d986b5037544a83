/**
 * A log file that rotates by size: once the next write would take it past its limit, it
 * becomes `<file>.1` (the older ones `.2`, `.3`…, the oldest dropped) and a new file starts.
 * A line is never split between two files when it can be helped, and tailLines reads
 * across the rotation, so the last lines of a service are there right after one too.
 */
import { appendFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';

export const DEFAULT_LOG_ROTATE_BYTES = 10 * 1024 * 1024;
/** how many rotated files (.1 … .n) are kept */
export const KEPT_LOG_FILES = 3;

const NEWLINE = 0x0a;

export class RotatingLog {
  /** the file's size as this writer knows it (read from the disk at the first write and after a rotation elsewhere) */
  private size: number | undefined;
  /** whether the last byte written ends a line */
  private atLineEnd = true;

  constructor(
    readonly file: string,
    private readonly options: { maxBytes: number; keep: number } = { maxBytes: DEFAULT_LOG_ROTATE_BYTES, keep: KEPT_LOG_FILES },
  ) {}

  /** Rotates the file now when it is already larger than the limit (a log left by an earlier run). */
  rotateIfOver(): void {
    const size = fileSize(this.file);
    if (size !== null && size > this.options.maxBytes) this.rotate();
    else this.size = size ?? 0;
  }

  /**
   * Appends `data`. When it would take the file past its limit, the line in progress is
   * finished in the old file first, then the file rotates and the rest goes to the new one.
   * Synchronous: the lines of a service and slipway's own lines about it keep their order.
   */
  write(data: Buffer | string): void {
    let bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (bytes.length === 0) return;
    this.size ??= fileSize(this.file) ?? 0;
    if (this.size > 0 && this.size + bytes.length > this.options.maxBytes) {
      if (!this.atLineEnd) {
        const newline = bytes.indexOf(NEWLINE);
        // A line longer than the whole limit is cut here rather than let the file grow without end.
        if (newline !== -1 && this.size + newline < this.options.maxBytes * 2) {
          this.append(bytes.subarray(0, newline + 1));
          bytes = bytes.subarray(newline + 1);
        }
      }
      this.rotate();
      if (bytes.length === 0) return;
    }
    this.append(bytes);
  }

  private append(bytes: Buffer): void {
    appendFileSync(this.file, bytes);
    this.size = (this.size ?? 0) + bytes.length;
    this.atLineEnd = bytes[bytes.length - 1] === NEWLINE;
  }

  private rotate(): void {
    rotateFiles(this.file, this.options.keep);
    this.size = 0;
    this.atLineEnd = true;
  }
}

/** file → file.1, file.1 → file.2 … keeping `keep` old files (the oldest is removed). */
export function rotateFiles(file: string, keep: number): void {
  rmSync(`${file}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i -= 1) {
    if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  }
  if (existsSync(file)) renameSync(file, `${file}.1`);
}

function fileSize(file: string): number | null {
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
}

/** Up to `maxBytes` from the end of a file; null when it cannot be read. */
async function readEnd(file: string, maxBytes: number): Promise<{ bytes: Buffer; cut: boolean } | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - maxBytes);
    const bytes = Buffer.alloc(size - start);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
    return { bytes: bytes.subarray(0, bytesRead), cut: start > 0 };
  } finally {
    await handle.close();
  }
}

function countLines(bytes: Buffer): number {
  let lines = 0;
  for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, at + 1)) lines += 1;
  return lines;
}

/**
 * The last `count` lines of a log, reading only its end, and the end of `<file>.1` when the
 * file itself holds fewer lines (it was just rotated): the tail is the same before and after
 * a rotation.
 */
export async function tailLines(file: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const maxBytes = Math.max(16 * 1024, count * 512);
  let tail = (await readEnd(file, maxBytes)) ?? { bytes: Buffer.alloc(0), cut: false };
  if (!tail.cut && countLines(tail.bytes) <= count && tail.bytes.length < maxBytes) {
    const older = await readEnd(`${file}.1`, maxBytes - tail.bytes.length);
    if (older) tail = { bytes: Buffer.concat([older.bytes, tail.bytes]), cut: older.cut };
  }
  const lines = tail.bytes.toString('utf8').split('\n');
  if (tail.cut) lines.shift(); // a partial first line
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-count);
}
