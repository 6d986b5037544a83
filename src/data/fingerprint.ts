/**
 * Fingerprints: per table, a row count and a digest of the rows that does not depend
 * on their order (a restored table may return rows in another order), computed in
 * one streaming pass. And the comparison a verify reports.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Fingerprint } from './types.js';

const MASK_128 = (1n << 128n) - 1n;

/**
 * Sum modulo 2^128 of the first 128 bits of each row's sha256: equal multisets of rows
 * give equal sums, in any order. Not a defence against a forger (sha256 of the files is
 * that); a check that a restore reproduced the rows.
 */
export class TableDigests {
  private readonly tables = new Map<string, { rows: number; sum: bigint }>();

  /** Declares a table (so an empty one still appears). */
  table(name: string): void {
    if (!this.tables.has(name)) this.tables.set(name, { rows: 0, sum: 0n });
  }

  addRow(table: string, row: Buffer | string): void {
    let entry = this.tables.get(table);
    if (!entry) {
      entry = { rows: 0, sum: 0n };
      this.tables.set(table, entry);
    }
    const digest = createHash('sha256').update(row).digest();
    const value = (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
    entry.rows += 1;
    entry.sum = (entry.sum + value) & MASK_128;
  }

  result(): Fingerprint {
    const out: Fingerprint = {};
    for (const name of [...this.tables.keys()].sort()) {
      const { rows, sum } = this.tables.get(name)!;
      out[name] = { rows, checksum: sum.toString(16).padStart(32, '0') };
    }
    return out;
  }
}

/**
 * Calls `onLine` for each line of the stream (without its \n; a final line without \n
 * included). The buffer handed over is only valid during the call.
 */
export async function forEachLine(stream: Readable, onLine: (line: Buffer) => void): Promise<void> {
  let pending: Buffer | null = null;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    let newline = chunk.indexOf(10, start);
    while (newline !== -1) {
      const piece = chunk.subarray(start, newline);
      if (pending) {
        onLine(Buffer.concat([pending, piece]));
        pending = null;
      } else {
        onLine(piece);
      }
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      pending = pending ? Buffer.concat([pending, rest]) : Buffer.from(rest);
    }
  }
  if (pending && pending.length > 0) onLine(pending);
}

/** Human-readable differences, expected first; empty when the fingerprints are equal. */
export function compareFingerprints(o: { expected: Fingerprint; actual: Fingerprint; what: 'table' | 'path'; limit?: number }): string[] {
  const limit = o.limit ?? 20;
  const problems: string[] = [];
  const names = [...new Set([...Object.keys(o.expected), ...Object.keys(o.actual)])].sort();
  let count = 0;
  for (const name of names) {
    const want = o.expected[name];
    const got = o.actual[name];
    let problem: string | null = null;
    if (!got) problem = `${o.what} ${name}: in the backup, missing after the restore`;
    else if (!want) problem = `${o.what} ${name}: present after the restore, not in the backup`;
    else if (want.rows !== got.rows) {
      problem = o.what === 'table' ? `table ${name}: ${want.rows} rows backed up, ${got.rows} restored` : `path ${name}: ${want.rows} bytes backed up, ${got.rows} restored`;
    } else if (want.checksum !== got.checksum) problem = `${o.what} ${name}: content differs (checksum ${want.checksum.slice(0, 12)}… backed up, ${got.checksum.slice(0, 12)}… restored)`;
    if (problem === null) continue;
    count++;
    if (problems.length < limit) problems.push(problem);
  }
  if (count > problems.length) problems.push(`… and ${count - problems.length} more`);
  return problems;
}
