/**
 * Are a backup's files still the bytes that were checked when it was taken? Every
 * item's size and sha256 against backup.json, and backup.json's digest against the
 * catalog's. Cheap (one read of each file) and done before any restore touches data.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BackupRecord } from '../host/ledger.js';
import { hashFile } from '../release/file-hash.js';
import type { BackupManifest } from './backup-manifest.js';

/** Problems found, empty when every file matches. */
export async function checkBackupFiles(o: { dir: string; manifest: BackupManifest; catalog?: BackupRecord | null }): Promise<string[]> {
  const problems: string[] = [];
  if (o.catalog && o.catalog.sha256 !== o.manifest.sha256) {
    problems.push(`backup.json's digest ${o.manifest.sha256.slice(0, 12)}… differs from the catalog's ${o.catalog.sha256.slice(0, 12)}…`);
  }
  for (const item of o.manifest.items) {
    const file = path.join(o.dir, item.file);
    let actual: { sha256: string; size: number };
    try {
      const stat = await fs.lstat(file);
      if (!stat.isFile()) {
        problems.push(`${item.file}: not a regular file`);
        continue;
      }
      actual = await hashFile(file);
    } catch (error) {
      problems.push(`${item.file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (error as Error).message}`);
      continue;
    }
    if (actual.size !== item.size) problems.push(`${item.file}: ${actual.size} bytes, ${item.size} recorded`);
    else if (actual.sha256 !== item.sha256) problems.push(`${item.file}: sha256 ${actual.sha256.slice(0, 12)}… differs from the recorded ${item.sha256.slice(0, 12)}…`);
  }
  return problems;
}
