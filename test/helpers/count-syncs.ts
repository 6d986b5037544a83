/**
 * Counts the fsyncs made through node's file handles (FileHandle.sync: the journal's, among
 * others) while `during` runs; `syncs()` says how many so far.
 */
import { promises as fs } from 'node:fs';

export async function countingSyncs<T>(anyFile: string, during: (syncs: () => number) => Promise<T>): Promise<T> {
  // FileHandle is not exported: its prototype is reached through a handle.
  const probe = await fs.open(anyFile, 'a');
  const proto = Object.getPrototypeOf(probe) as { sync(): Promise<void> };
  await probe.close();
  const original = proto.sync;
  let count = 0;
  proto.sync = function (this: unknown) {
    count += 1;
    return original.call(this);
  };
  try {
    return await during(() => count);
  } finally {
    proto.sync = original;
  }
}
