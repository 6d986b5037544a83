/**
 * Hand-made tar archives for the unpack tests. The tar package sanitizes what it writes,
 * so hostile entries (../, absolute paths, links, devices) are built here header by header.
 */
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  name: string;
  /** ustar typeflag: '0' file, '1' hard link, '2' symlink, '3' char device, '5' folder, '6' FIFO, 'x' pax header */
  type?: string;
  body?: Buffer | string;
  linkname?: string;
  /** declared size when it should differ from the body's length */
  size?: number;
  mode?: number;
}

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`"${value}" does not fit in ${length} bytes`);
  bytes.copy(block, offset);
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  writeString(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** One 512-byte ustar header with a correct checksum. */
export function ustarHeader(e: RawEntry & { size: number }): Buffer {
  const block = Buffer.alloc(512);
  writeString(block, 0, 100, e.name);
  writeOctal(block, 100, 8, e.mode ?? 0o644);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, e.size);
  writeOctal(block, 136, 12, 1_700_000_000); // mtime
  block.fill(0x20, 148, 156); // checksum counts as spaces while it is computed
  writeString(block, 156, 1, e.type ?? '0');
  writeString(block, 157, 100, e.linkname ?? '');
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  let sum = 0;
  for (const byte of block) sum += byte;
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** A pax extended header ('x') whose records apply to the next entry. */
export function paxEntry(records: Record<string, string>): RawEntry {
  let body = '';
  for (const [key, value] of Object.entries(records)) {
    const rest = ` ${key}=${value}\n`;
    let length = rest.length + 1;
    while (`${length}${rest}`.length !== length) length += 1;
    body += `${length}${rest}`;
  }
  return { name: 'PaxHeader', type: 'x', body };
}

/** An uncompressed tar stream; `end: false` leaves out the two closing zero blocks. */
export function rawTar(entries: RawEntry[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    parts.push(ustarHeader({ ...e, size: e.size ?? body.length }));
    if (body.length > 0) {
      parts.push(body);
      const pad = (512 - (body.length % 512)) % 512;
      parts.push(Buffer.alloc(pad));
    }
  }
  if (options.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function gzipTar(entries: RawEntry[], options: { end?: boolean } = {}): Buffer {
  return gzipSync(rawTar(entries, options));
}
