/**
 * Packs a built tree into release.tar.gz: exactly the manifest's files, in manifest order,
 * with normalized metadata so two builds of one commit give the same bytes.
 */
import type { Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { Pack } from 'tar';
import { SlipwayError } from '../errors.js';
import { writePackToFile } from '../util/tar-file.js';
import type { ReleaseManifest } from './manifest.js';

/** The archive's entry times: the commit date (whole seconds, as tar stores them), else the epoch. */
function entryTime(manifest: ReleaseManifest): Date {
  const ms = Date.parse(manifest.date);
  return new Date(Number.isNaN(ms) ? 0 : Math.floor(ms / 1000) * 1000);
}

export async function packRelease(treeDir: string, manifest: ReleaseManifest, archivePath: string): Promise<void> {
  const root = path.resolve(treeDir);
  // tar reads modes, link counts and sizes from stats; handing it normalized stats up front
  // keeps host details (umask, hard links, mtimes) out of the archive.
  const statCache = new Map<string, Stats>();
  for (const file of manifest.files) {
    const absolute = path.resolve(root, file.path);
    const stat = await lstat(absolute);
    if (!stat.isFile() || stat.size !== file.size) {
      throw new SlipwayError('RELEASE_PACK_MISMATCH', `${file.path} changed while the release was being packed.`, {
        hint: 'Something else is writing into the build folder; build again.',
      });
    }
    stat.mode = (stat.mode & ~0o7777) | file.mode;
    stat.nlink = 1; // never store a hard link entry: unpacking refuses links
    statCache.set(absolute, stat);
  }

  // Pack directly rather than tar.c(): tar.c reads a file list entry starting with '@' as an archive to splice in.
  const pack = new Pack({
    cwd: root,
    gzip: { level: 9 },
    portable: true,
    noDirRecurse: true,
    mtime: entryTime(manifest),
    statCache,
    strict: true,
  });
  try {
    await writePackToFile(pack, archivePath, manifest.files.map((file) => file.path));
  } catch (error) {
    throw new SlipwayError('RELEASE_PACK_FAILED', `Could not write ${archivePath}: ${(error as Error).message}`, { cause: error });
  }
}
