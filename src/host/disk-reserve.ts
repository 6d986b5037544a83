/**
 * Room to undo an update on a full disk. Undoing writes too (the journal, the ledger,
 * the `current` link, a restored backup), so a disk that fills up during an update would
 * leave it half undone. The lock step makes sure a reserve file of DISK_RESERVE_BYTES
 * sits in the host root; when an update fails, the reserve is deleted before anything
 * else, which gives the undo and its records that room. The next update's lock step
 * puts it back, or refuses when the disk has not even that much free.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { isDiskFull } from '../util/disk-full.js';
import type { HostLayout } from './layout.js';

/** Enough for the undo's records and the restore of a small database; a bigger restore needs space freed. */
export const DISK_RESERVE_BYTES = 4 * 1024 * 1024;

export function diskReserveFile(layout: HostLayout): string {
  return path.join(layout.root, 'disk-reserve');
}

/** Puts the reserve in place unless it is there; HOST_DISK_FULL when the disk cannot hold it. */
export async function ensureDiskReserve(layout: HostLayout): Promise<void> {
  const file = diskReserveFile(layout);
  const existing = await fs.stat(file).catch(() => null);
  if (existing?.isFile() && existing.size === DISK_RESERVE_BYTES) return;
  const temp = `${file}.tmp`;
  try {
    const handle = await fs.open(temp, 'w', 0o600);
    try {
      // Incompressible bytes: zeros may take no space on a compressing filesystem (ZFS, btrfs).
      const chunk = randomBytes(1024 * 1024);
      for (let written = 0; written < DISK_RESERVE_BYTES; written += chunk.length) await handle.write(chunk, 0, chunk.length);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    if (!isDiskFull(error)) throw error;
    throw hostDiskFullError(layout.root, `not even ${DISK_RESERVE_BYTES / 1024 / 1024} MiB free to undo an update should it fail; nothing was changed`, error);
  }
}

/** The host's disk is full: said in the user's terms, with what to free. `what` says what could not be done. */
export function hostDiskFullError(root: string, what: string, cause: unknown): SlipwayError {
  return new SlipwayError('HOST_DISK_FULL', `the host's disk is full (${root}): ${what}`, {
    hint: 'free space on the host (`slipway prune <env>` removes old releases, `slipway backup prune <env>` old backups), then deploy again',
    cause,
  });
}

/** Frees the reserve for an undo (a no-op when it is not there). */
export async function releaseDiskReserve(layout: HostLayout): Promise<void> {
  await fs.rm(diskReserveFile(layout), { force: true });
}
