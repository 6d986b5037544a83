/**
 * backups/<id>/backup.json: what a backup holds, written last (after every item
 * passed its checks), so a folder with a readable backup.json is a complete backup.
 * It carries the fingerprints a verify compares a scratch restore with; the catalog
 * in the ledger carries the rest for listing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SlipwayError } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import type { BackupItemRecord, BackupRecord } from '../host/ledger.js';
import { BACKUP_REASONS, type Fingerprint } from './types.js';
import { backupNotFound } from './data-errors.js';

export const BACKUP_MANIFEST_FILE = 'backup.json';

const fingerprintSchema = z.record(z.string(), z.object({ rows: z.number().int().nonnegative(), checksum: z.string() }));

const manifestSchema = z.object({
  format: z.literal(1),
  id: z.string(),
  environment: z.string(),
  release: z.object({ id: z.string(), version: z.string().nullable() }).nullable(),
  reason: z.enum(BACKUP_REASONS as [string, ...string[]]),
  createdAt: z.string(),
  durationMs: z.number().int().nonnegative(),
  deploymentId: z.number().int().nullable(),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  items: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['database', 'folder']),
      engine: z.enum(['postgres', 'mysql', 'sqlite', 'files']),
      file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
      size: z.number().int().nonnegative(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      tool: z.string(),
      fingerprint: fingerprintSchema,
    }),
  ),
});

export interface BackupManifestItem extends BackupItemRecord {
  engine: 'postgres' | 'mysql' | 'sqlite' | 'files';
  /** the tool and version that wrote it */
  tool: string;
  /** of the data the file holds, taken from the file itself at creation */
  fingerprint: Fingerprint;
}

export interface BackupManifest extends Omit<BackupRecord, 'verifiedAt' | 'items'> {
  format: 1;
  items: BackupManifestItem[];
}

const BACKUP_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

/** `20261121T235959Z-1a2b3c`: sorts by creation time (UTC), unique by its random tail. */
export function newBackupId(at: Date = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function isBackupId(id: string): boolean {
  return BACKUP_ID_PATTERN.test(id);
}

/** backups/<id>: refuses anything that is not a backup id, so an id never points elsewhere. */
export function backupDir(layout: HostLayout, id: string): string {
  if (!isBackupId(id)) throw invalidBackupId(id);
  return path.join(layout.backupsDir, id);
}

/** BACKUP_ID_INVALID: `id` is not the id of any backup, here or off-site. Exit code 2: nothing was done. */
export function invalidBackupId(id: string): SlipwayError {
  return new SlipwayError('BACKUP_ID_INVALID', `"${id}" is not a backup id.`, {
    hint: 'Backup ids look like 20261121T235959Z-1a2b3c; `slipway backups <env>` lists them (with --offsite, the off-site ones).',
    exitCode: 2,
  });
}

/** The backup's digest: sha256 of "<item sha256>  <file>\n" lines (sha256sum's format), in item order. */
export function backupSetDigest(items: ReadonlyArray<Pick<BackupItemRecord, 'sha256' | 'file'>>): string {
  const hash = createHash('sha256');
  for (const item of items) hash.update(`${item.sha256}  ${item.file}\n`);
  return hash.digest('hex');
}

export async function readBackupManifest(dir: string): Promise<BackupManifest> {
  const file = path.join(dir, BACKUP_MANIFEST_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw backupNotFound(path.basename(dir), { cause: error });
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw manifestCorrupt(file, 'it is not valid JSON', error);
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) throw manifestCorrupt(file, result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).slice(0, 3).join('; '));
  const manifest = result.data as BackupManifest;
  if (backupSetDigest(manifest.items) !== manifest.sha256) throw manifestCorrupt(file, "its digest does not match its items' digests");
  if (path.basename(dir) !== manifest.id && isBackupId(path.basename(dir))) throw manifestCorrupt(file, `it describes backup ${manifest.id}, not ${path.basename(dir)}`);
  return manifest;
}

function manifestCorrupt(file: string, why: string, cause?: unknown): SlipwayError {
  return new SlipwayError('BACKUP_CORRUPT', `The backup description ${file} is damaged: ${why}.`, {
    hint: 'Do not restore from this backup; use another one (`slipway backups`). Nothing was changed.',
    cause,
  });
}

/** The catalog's view of a manifest. */
export function recordOf(manifest: BackupManifest, verifiedAt: string | null): BackupRecord {
  return {
    id: manifest.id,
    environment: manifest.environment,
    release: manifest.release,
    reason: manifest.reason,
    createdAt: manifest.createdAt,
    size: manifest.size,
    sha256: manifest.sha256,
    verifiedAt,
    durationMs: manifest.durationMs,
    deploymentId: manifest.deploymentId,
    items: manifest.items.map(({ name, kind, engine, file, size, sha256 }) => ({ name, kind, engine, file, size, sha256 })),
  };
}
