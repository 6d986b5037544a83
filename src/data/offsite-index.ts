/**
 * index.json of an off-site copy: unencrypted, uploaded last (a copy without it is
 * incomplete and never listed), and not authenticated: a fetch holds it against the
 * encrypted backup.json (src/data/offsite-fetch.ts).
 */
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import type { BackupRecord } from '../host/ledger.js';
import type { BlobStore } from '../store/blob-store.js';
import { isBackupId } from './backup-manifest.js';
import { BACKUP_REASONS } from './types.js';

export const OFFSITE_INDEX_FILE = 'index.json';
const FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const indexSchema = z.object({
  format: z.literal(1),
  id: z.string().refine(isBackupId),
  environment: z.string(),
  release: z.object({ id: z.string(), version: z.string().nullable() }).nullable(),
  reason: z.enum(BACKUP_REASONS as [string, ...string[]]),
  createdAt: z.string(),
  verifiedAt: z.string().nullable(),
  copiedAt: z.string(),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.array(z.object({ name: z.string().regex(FILE_NAME_PATTERN), sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() })),
});

/** index.json of an off-site copy: what `backups --offsite` lists. */
export interface OffsiteIndex {
  format: 1;
  id: string;
  environment: string;
  release: { id: string; version: string | null } | null;
  reason: BackupRecord['reason'];
  createdAt: string;
  /** when the backup had last passed a check, as the catalog said when it was copied */
  verifiedAt: string | null;
  copiedAt: string;
  /** id of the key the files are encrypted with (first 16 hex digits of its sha256) */
  keyId: string;
  /** plaintext bytes of the item files, and the backup's digest (as in backup.json) */
  size: number;
  sha256: string;
  /** every file, plaintext digest and size; each is stored as <name>.enc, backup.json last */
  files: Array<{ name: string; sha256: string; size: number }>;
}

export async function readIndex(store: BlobStore, key: string): Promise<OffsiteIndex | null> {
  const body = await store.get(key);
  if (body === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new SlipwayError('BACKUP_CORRUPT', `${key} in the store is not valid JSON.`, { cause: error, hint: 'Use another backup; this off-site copy is damaged.' });
  }
  const result = indexSchema.safeParse(parsed);
  if (!result.success) {
    throw new SlipwayError('BACKUP_CORRUPT', `${key} in the store is not an off-site backup index: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).slice(0, 3).join('; ')}.`, {
      hint: 'Use another backup; this off-site copy is damaged.',
    });
  }
  return result.data as OffsiteIndex;
}

/** Do two indexes list the same files, in the same order, with the same digests and sizes? */
export function sameFiles(a: OffsiteIndex['files'], b: OffsiteIndex['files']): boolean {
  return a.length === b.length && a.every((file, i) => file.name === b[i].name && file.sha256 === b[i].sha256 && file.size === b[i].size);
}
