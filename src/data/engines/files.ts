/**
 * Folders of user files (uploads): a gzipped tar stream of the folder, owners and
 * modes included. A restore extracts into a temporary sibling and swaps it in with
 * rename, keeping the old folder until the swap succeeded.
 *
 * Fingerprint: one entry per path (type, mode, size, sha256 of the content), from the
 * archive itself or from a folder on disk, so a restore can be compared entry by entry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract, Pack, Parser, type ReadEntry } from 'tar';
import { SlipwayError } from '../../errors.js';
import { corruptBackup } from '../data-errors.js';
import { diskFullError, fsyncDir, isDiskFull, isZlibError, writeStreamToFile } from '../file-stream.js';
import type { BackupEngine, DataItem, Fingerprint } from '../types.js';

type FolderItem = Extract<DataItem, { engine: 'files' }>;

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function normalizeEntryPath(raw: string): string {
  return raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

async function statOrNull(p: string): Promise<import('node:fs').Stats | null> {
  try {
    return await fs.stat(p);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Hash tree of a folder on disk (symbolic links are recorded, not followed). */
export async function fingerprintFolder(dir: string): Promise<Fingerprint> {
  const out: Fingerprint = {};
  const walk = async (relative: string): Promise<void> => {
    const entries = await fs.readdir(path.join(dir, relative), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const rel = relative ? `${relative}/${entry.name}` : entry.name;
      const full = path.join(dir, rel);
      const stat = await fs.lstat(full);
      if (stat.isDirectory()) {
        out[rel] = { rows: 0, checksum: `d${modeText(stat.mode)}` };
        await walk(rel);
      } else if (stat.isSymbolicLink()) {
        out[rel] = { rows: 0, checksum: `l:${await fs.readlink(full)}` };
      } else if (stat.isFile()) {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(full)) hash.update(chunk as Buffer);
        out[rel] = { rows: stat.size, checksum: `f${modeText(stat.mode)}:${hash.digest('hex')}` };
      } else {
        out[rel] = { rows: 0, checksum: 'other' };
      }
    }
  };
  await walk('');
  return out;
}

/**
 * An archive with no entries (only end-of-archive zero blocks): node-tar's parser and
 * extractor reject those, so they are recognised here.
 */
async function isEmptyArchive(file: string): Promise<boolean> {
  const gunzip = createGunzip();
  const source = createReadStream(file);
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  let seen = 0;
  try {
    for await (const chunk of gunzip) {
      const bytes = chunk as Buffer;
      seen += bytes.length;
      if (seen > 64 * 1024 || bytes.some((b) => b !== 0)) return false;
    }
  } catch {
    return false; // damaged: the full read reports it
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  return true;
}

/** Hash tree of the archive's content; also the structural check (gzip CRC, tar headers). */
async function fingerprintArchive(file: string): Promise<Fingerprint> {
  if (await isEmptyArchive(file)) return {};
  const out: Fingerprint = {};
  const parser = new Parser({ strict: true, maxDecompressionRatio: Number.POSITIVE_INFINITY });
  const pending: Promise<void>[] = [];
  let failure: unknown;
  parser.on('error', (error: unknown) => {
    failure ??= error;
  });
  parser.on('entry', (entry: ReadEntry) => {
    const rel = normalizeEntryPath(entry.path);
    const mode = modeText(entry.mode ?? 0);
    if (FILE_TYPES.has(entry.type)) {
      const hash = createHash('sha256');
      let size = 0;
      pending.push(
        new Promise<void>((resolve) => {
          entry.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            size += chunk.length;
          });
          entry.on('end', () => {
            out[rel] = { rows: size, checksum: `f${mode}:${hash.digest('hex')}` };
            resolve();
          });
        }),
      );
      return;
    }
    if (entry.type === 'Directory') out[rel] = { rows: 0, checksum: `d${mode}` };
    else if (entry.type === 'SymbolicLink') out[rel] = { rows: 0, checksum: `l:${entry.linkpath ?? ''}` };
    // A hard link restores as another name for the same content.
    else if (entry.type === 'Link') out[rel] = out[normalizeEntryPath(entry.linkpath ?? '')] ?? { rows: 0, checksum: 'link:?' };
    else out[rel] = { rows: 0, checksum: 'other' };
    entry.resume();
  });
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
  });
  ended.catch(() => undefined); // observed below; an early error must not count as unhandled
  const gunzip = createGunzip();
  const source = createReadStream(file);
  source.on('error', (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip) {
      if (failure) break;
      if (!parser.write(chunk as Buffer)) await once(parser, 'drain');
    }
    if (!failure) {
      parser.end();
      await ended;
    }
    await Promise.all(pending);
  } catch (error) {
    failure ??= error;
  }
  if (failure) {
    throw corruptBackup(file, isZlibError(failure) ? `its compressed data is damaged (${(failure as Error).message})` : `the archive is damaged (${(failure as Error).message})`, failure);
  }
  return out;
}

async function extractArchive(file: string, into: string): Promise<void> {
  if (await isEmptyArchive(file)) return;
  try {
    // chmod + processUmask 0: modes exactly as archived (an executable stays executable, 0600 stays 0600).
    await extract({ file, cwd: into, strict: true, chmod: true, processUmask: 0, maxDepth: Number.POSITIVE_INFINITY });
  } catch (error) {
    if (isDiskFull(error)) throw diskFullError(into, error);
    throw corruptBackup(file, `it could not be extracted (${(error as Error).message})`, error);
  }
}

function suffix(): string {
  return randomBytes(6).toString('hex');
}

export const filesEngine: BackupEngine<FolderItem> = {
  engine: 'files',
  fileSuffix: '.tar.gz',

  async backup({ item, outFile, onProgress }) {
    const stat = await statOrNull(item.dir);
    if (stat && !stat.isDirectory()) {
      throw new SlipwayError('BACKUP_SOURCE_INVALID', `${item.dir} (data folder ${item.name}) is not a folder.`, {
        hint: 'Folders under `data.folders` in slipway.yml must be folders in shared/.',
      });
    }
    // A folder that does not exist yet backs up as an empty archive (and restores as an empty folder).
    const names = stat ? (await fs.readdir(item.dir)).sort() : [];
    // A file removed while the archive is written was deleted by the app: skipped. Any other
    // problem (a file slipway may not read) fails the backup rather than silently leaving it out.
    const unreadable: string[] = [];
    let source: Readable;
    if (names.length === 0) {
      // node-tar writes nothing at all for no entries; an empty archive is two zero blocks.
      source = Readable.from([Buffer.alloc(1024)]);
    } else {
      const pack = new Pack({
        cwd: item.dir,
        portable: false,
        strict: false,
        // FIFOs, sockets and devices are not user files: left out here, so node-tar never opens
        // or skips one (its stream could then end without telling, and the backup would hang).
        filter: (_path, stat) => !('isFIFO' in stat) || stat.isFile() || stat.isDirectory() || stat.isSymbolicLink(),
        onwarn: (_code, message, data) => {
          if (data?.code !== 'ENOENT') unreadable.push(`${String(data?.path ?? data?.file ?? '')}: ${message}`.replace(/^: /, ''));
        },
      });
      for (const name of names) pack.add(name);
      pack.end();
      // Piped, not async-iterated: node-tar's stream never ends under async iteration when
      // the last entry is one it skips (a FIFO or socket).
      const bridge = new PassThrough();
      pack.on('error', (error: unknown) => bridge.destroy(error as Error));
      pack.pipe(bridge);
      source = bridge;
    }
    const result = await writeStreamToFile({
      source,
      file: outFile,
      gzip: true,
      onBytes: (bytes) => onProgress?.({ item: item.name, phase: 'backup', bytes, totalBytes: null }),
    });
    if (unreadable.length > 0) {
      await fs.rm(outFile, { force: true });
      throw new SlipwayError('BACKUP_SOURCE_UNREADABLE', `Some files of the data folder ${item.name} could not be read, so the backup would be incomplete.`, {
        details: unreadable.slice(0, 20),
        hint: `Make every file under ${item.dir} readable by the user slipway runs as, then try again.`,
      });
    }
    return { ...result, tool: 'tar (node-tar) + gzip' };
  },

  async inspect({ file }) {
    return fingerprintArchive(file);
  },

  async restore({ item, file }) {
    // A folder that is a link to another disk is restored where the link points.
    const existing = await statOrNull(item.dir);
    const real = existing ? await fs.realpath(item.dir) : item.dir;
    const parent = path.dirname(real);
    await fs.mkdir(parent, { recursive: true });
    const base = path.basename(real);
    const tmp = path.join(parent, `.${base}.restore-${suffix()}`);
    const old = path.join(parent, `.${base}.old-${suffix()}`);
    await fs.mkdir(tmp, { mode: 0o700 });
    try {
      await extractArchive(file, tmp);
      if (existing) {
        await fs.chmod(tmp, existing.mode & 0o7777);
        if (process.getuid?.() === 0) await fs.chown(tmp, existing.uid, existing.gid);
      } else {
        await fs.chmod(tmp, 0o755);
      }
    } catch (error) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw error;
    }
    try {
      if (existing) await fs.rename(real, old);
    } catch (error) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw new SlipwayError('BACKUP_RESTORE_FAILED', `Could not move ${real} aside to restore it: ${(error as Error).message}`, {
        hint: 'A folder that is a mount point cannot be swapped: mount its parent instead, or make the folder a link to the mounted one. Nothing was changed.',
        cause: error,
      });
    }
    try {
      await fs.rename(tmp, real);
    } catch (error) {
      if (existing) await fs.rename(old, real).catch(() => undefined);
      await fs.rm(tmp, { recursive: true, force: true });
      throw new SlipwayError('BACKUP_RESTORE_FAILED', `Could not put the restored ${base} in place: ${(error as Error).message}`, {
        hint: 'The folder was left as it was; check permissions of its parent folder and try again.',
        cause: error,
      });
    }
    await fsyncDir(parent);
    await fs.rm(old, { recursive: true, force: true });
  },

  async scratchFingerprint({ file }) {
    const scratch = path.join(path.dirname(file), `.verify-${suffix()}`);
    await fs.mkdir(scratch, { mode: 0o700 });
    try {
      await extractArchive(file, scratch);
      return await fingerprintFolder(scratch);
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }
  },

  async fingerprint({ item }) {
    return (await statOrNull(item.dir)) ? fingerprintFolder(item.dir) : {};
  },
};
