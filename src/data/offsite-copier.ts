/**
 * Catching up: every backup still without an off-site copy is copied, one pass at a
 * time (the agent's single writer of off-site copies).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { Ledger } from '../host/ledger.js';
import { BACKUP_MANIFEST_FILE } from './backup-manifest.js';
import { backupKeyId } from './encryption.js';
import { copyBackupOffsite } from './offsite-copy.js';
import type { StoreTarget } from './offsite-store.js';

/**
 * Copies every backup of the environment on this host that has no off-site copy yet,
 * newest first. Copies made under another key are left alone: a changed key never
 * silently re-encrypts (and replaces) what is in the store; copyBackupOffsite does
 * when asked. Stops at the first failure (the store is likely unreachable for the
 * rest too) and says how many are left.
 */
export async function copyPendingOffsite(
  o: StoreTarget & { layout: HostLayout; ledger: Ledger; key: Buffer; log?(line: string): void },
): Promise<{ copied: string[]; failed: { id: string | null; error: SlipwayError } | null; left: number }> {
  const keyId = backupKeyId(o.key);
  const pending = o.ledger.listBackups({ environment: o.environment }).filter((b) => !b.offsite);
  const copied: string[] = [];
  for (const [index, backup] of pending.entries()) {
    const present = await fs.stat(path.join(o.layout.backupsDir, backup.id, BACKUP_MANIFEST_FILE)).then(() => true, () => false);
    if (!present) continue; // pruned meanwhile
    try {
      const result = await copyBackupOffsite({ ...o, backupId: backup.id });
      copied.push(backup.id);
      if (!result.alreadyThere) o.log?.(`backup ${backup.id} copied off-site to ${o.store.description} (${result.bytes} bytes, key id ${keyId})`);
    } catch (error) {
      const failure = error instanceof SlipwayError ? error : new SlipwayError('OFFSITE_UPLOAD_FAILED', (error as Error).message, { cause: error });
      const left = pending.length - index - 1;
      o.log?.(`warning: backup ${backup.id} was not copied off-site: ${failure.message}${left > 0 ? ` (${left} more wait for the next try)` : ''}`);
      return { copied, failed: { id: backup.id, error: failure }, left };
    }
  }
  return { copied, failed: null, left: 0 };
}

export type CopyPendingResult = Awaited<ReturnType<typeof copyPendingOffsite>>;

export interface OffsiteCopier {
  /**
   * Copies every backup still without an off-site copy, after the pass in progress
   * (calls made while one waits share it). Never rejects: failures, a missing key
   * included, are logged and returned.
   */
  copyPending(): Promise<CopyPendingResult>;
  /** resolves when no pass runs or waits */
  idle(): Promise<void>;
}

/**
 * The agent's single writer of off-site copies: passes run one at a time, so two
 * copies of the same backup never race (one's cleanup deleting the other's objects).
 * The key is read for each pass (the env file may have changed).
 */
export function createOffsiteCopier(o: StoreTarget & { layout: HostLayout; ledger: Ledger; key(): Promise<Buffer>; log(line: string): void }): OffsiteCopier {
  let tail: Promise<unknown> = Promise.resolve();
  let waiting: Promise<CopyPendingResult> | null = null;
  async function pass(): Promise<CopyPendingResult> {
    try {
      return await copyPendingOffsite({ ...o, key: await o.key() });
    } catch (error) {
      // The key is missing or invalid, or the ledger is closing.
      const failure = error instanceof SlipwayError ? error : new SlipwayError('OFFSITE_UPLOAD_FAILED', (error as Error).message, { cause: error });
      o.log(`warning: no off-site copies: ${failure.message}${failure.hint ? ` (${failure.hint})` : ''}`);
      return { copied: [], failed: { id: null, error: failure }, left: 0 };
    }
  }
  return {
    copyPending() {
      if (waiting) return waiting;
      const run = tail.then(() => {
        waiting = null;
        return pass();
      });
      waiting = run;
      tail = run.catch(() => undefined);
      return run;
    },
    idle: () => tail.then(() => undefined),
  };
}
