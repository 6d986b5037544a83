/**
 * Unpacking a release archive: the security boundary of every host operation.
 *
 * The archive is trusted for nothing. Each entry is checked against the manifest (whose
 * id the caller has verified) before a byte is written: its raw header path, its type,
 * its declared size; each file is hashed while it is written. The tar package's Parser
 * only splits the stream into entries; it does not sanitize paths (its Unpack does,
 * silently), so every path decision here is ours. Everything lands in a temporary
 * sibling folder that is renamed into place only after all of it verified.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { chmod, lstat, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { SlipwayError } from '../errors.js';
import { mapLimit } from './file-hash.js';
import { unsafePathReason, type ManifestFile, type ReleaseManifest } from './manifest.js';
import { foldersOfEntries } from './manifest-folders.js';

export interface UnpackOptions {
  archivePath: string;
  /** a manifest whose id the caller has already checked */
  manifest: ReleaseManifest;
  /** must not exist yet */
  destDir: string;
  /** default 2 GiB */
  maxTotalBytes?: number;
  /** default 200,000 */
  maxFiles?: number;
}

const DEFAULT_MAX_TOTAL_BYTES = 2 * 1024 ** 3;
const DEFAULT_MAX_FILES = 200_000;
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

function rejected(entry: string, reason: string): SlipwayError {
  return new SlipwayError('RELEASE_ARCHIVE_REJECTED', `Release archive rejected: entry ${JSON.stringify(entry)}: ${reason}.`, {
    hint: 'The archive does not match its manifest (damaged or tampered with); nothing was extracted. Fetch the release again, or build and publish it again.',
  });
}

/** A file that could not be written: the host's disk is full (not the archive's fault), or the archive is refused. */
function writeFailed(entry: string, error: Error): SlipwayError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SlipwayError('HOST_DISK_FULL', `The host's disk is full: release file ${JSON.stringify(entry)} could not be written (${code}).`, {
      hint: 'Free space on the host (`slipway prune <env>` removes old releases), then try again; nothing was extracted.',
      cause: error,
    });
  }
  return rejected(entry, `could not be written: ${error.message}`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** Every folder that holds a manifest file ('a/b' for 'a/b/c.txt'). */
function foldersOf(files: readonly ManifestFile[]): Set<string> {
  return new Set(foldersOfEntries(files.map((f) => f.path)));
}

function alreadyUnpacked(dest: string): SlipwayError {
  return new SlipwayError('RELEASE_ALREADY_UNPACKED', `${dest} already exists; a release is never unpacked over another one.`, {
    hint: 'Use the existing folder (check it with `slipway verify`), or remove it first if it is damaged.',
  });
}

/** Extracts and verifies the archive into destDir; on any failure nothing is left behind. */
export async function unpackRelease(o: UnpackOptions): Promise<void> {
  const dest = path.resolve(o.destDir);
  if (await exists(dest)) throw alreadyUnpacked(dest);
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
  await mkdir(tmp, { mode: 0o700 });
  try {
    await extractVerified(o, tmp);
    await applyModes(tmp, o.manifest);
    try {
      await rename(tmp, dest);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw alreadyUnpacked(dest);
      throw error;
    }
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

async function applyModes(root: string, manifest: ReleaseManifest): Promise<void> {
  await mapLimit(manifest.files, 16, (file) => chmod(path.join(root, file.path), file.mode));
  for (const folder of foldersOf(manifest.files)) await chmod(path.join(root, folder), 0o755);
  await chmod(root, 0o755);
}

function extractVerified(o: UnpackOptions, into: string): Promise<void> {
  const maxTotalBytes = o.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
  const maxFiles = o.maxFiles ?? DEFAULT_MAX_FILES;
  const expected = new Map(o.manifest.files.map((f) => [f.path, f]));
  const folders = foldersOf(o.manifest.files);
  const seen = new Set<string>();
  const seenFolders = new Set<string>();
  const writes: Promise<void>[] = [];
  const openStreams = new Set<WriteStream>();
  let declaredTotal = 0;
  let writtenTotal = 0;
  let entryCount = 0;
  let failure: SlipwayError | undefined;

  return new Promise<void>((resolve, reject) => {
    const source = createReadStream(o.archivePath);
    // The library's decompression-ratio guard would refuse a legitimate release holding a
    // large run of zeros; sizes are bounded here instead (declared sizes, bytes written,
    // entry and extended-header counts).
    const parser = new Parser({ strict: true, maxDecompressionRatio: Number.POSITIVE_INFINITY });

    // Settles once: after a failure, only when every file being written has closed, so
    // the caller's cleanup cannot race a write that recreates the temp folder.
    let settled = false;
    const settle = async () => {
      if (settled) return;
      settled = true;
      await Promise.allSettled(writes);
      if (failure) reject(failure);
      else resolve();
    };
    const fail = (error: SlipwayError) => {
      if (failure) return;
      failure = error;
      source.unpipe(parser);
      source.destroy();
      for (const stream of openStreams) stream.destroy();
      void settle();
    };

    source.on('error', (error) => {
      fail(
        new SlipwayError('RELEASE_ARCHIVE_UNREADABLE', `Cannot read the release archive ${o.archivePath}: ${error.message}`, {
          cause: error,
          hint: 'Fetch the release again.',
        }),
      );
    });

    parser.on('error', (error: Error & { entry?: ReadEntry; header?: { path?: string } }) => {
      const name = error.entry?.path ?? error.header?.path ?? '(archive)';
      fail(rejected(name, `the archive is truncated or corrupt (${error.message.replace(/^TAR_[A-Z_]+: /, '')})`));
    });

    // A legitimate archive has at most a pax header per file, plus a global one.
    const maxMetaEntries = o.manifest.files.length * 2 + 16;
    let metaEntries = 0;
    parser.on('meta', () => {
      metaEntries += 1;
      if (metaEntries > maxMetaEntries) fail(rejected('(archive)', `more than ${maxMetaEntries} extended headers`));
    });

    parser.on('ignoredEntry', (entry: ReadEntry) => {
      fail(rejected(entry.path, `unsupported entry type ${entry.type}`));
    });

    parser.on('entry', (entry: ReadEntry) => {
      if (failure) {
        entry.resume();
        return;
      }
      const problem = checkEntry(entry);
      if (problem) {
        fail(problem);
        entry.resume();
        return;
      }
      if (entry.type === 'Directory') {
        entry.resume();
        return;
      }
      const file = expected.get(entry.path)!;
      writes.push(writeFile(entry, file).catch((error: Error) => fail(writeFailed(file.path, error))));
    });

    parser.on('end', () => {
      if (failure) return;
      const missing = o.manifest.files.find((f) => !seen.has(f.path));
      if (missing) fail(rejected(missing.path, 'listed in the manifest but missing from the archive'));
      else void settle();
    });

    /** Why the entry must be refused before anything is written, or undefined. */
    function checkEntry(entry: ReadEntry): SlipwayError | undefined {
      const raw = entry.path;
      entryCount += 1;
      if (entryCount > maxFiles) return rejected(raw, `more than ${maxFiles} entries`);
      const isFolder = entry.type === 'Directory';
      const name = isFolder ? raw.replace(/\/+$/, '') : raw;
      const unsafe = unsafePathReason(name);
      if (unsafe) return rejected(raw, unsafe);
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
        return rejected(raw, `links are not allowed in a release (${entry.type === 'Link' ? 'hard link' : 'symbolic link'} to ${JSON.stringify(entry.linkpath ?? '')})`);
      }
      if (isFolder) {
        if (!folders.has(name)) return rejected(raw, 'folder not in the manifest');
        if (seenFolders.has(name)) return rejected(raw, 'duplicate entry');
        seenFolders.add(name);
        return undefined;
      }
      if (!FILE_TYPES.has(entry.type)) return rejected(raw, `${entry.type} entries are not allowed in a release`);
      const file = expected.get(name);
      if (!file) return rejected(raw, 'not in the manifest');
      if (seen.has(name)) return rejected(raw, 'duplicate entry');
      seen.add(name);
      if (entry.size !== file.size) return rejected(raw, `size ${entry.size} differs from the manifest's ${file.size}`);
      declaredTotal += entry.size;
      if (declaredTotal > maxTotalBytes) return rejected(raw, `the release is larger than the limit of ${maxTotalBytes} bytes`);
      return undefined;
    }

    async function writeFile(entry: ReadEntry, file: ManifestFile): Promise<void> {
      const target = path.join(into, file.path);
      await mkdir(path.dirname(target), { recursive: true });
      if (failure) return; // the temp folder is about to be removed: write nothing more into it
      const hash = createHash('sha256');
      let written = 0;
      const out = createWriteStream(target, { flags: 'wx', mode: 0o600 });
      openStreams.add(out);
      await new Promise<void>((done) => {
        out.on('close', done);
        out.on('error', (error) => {
          fail(writeFailed(file.path, error));
        });
        entry.on('data', (chunk: Buffer) => {
          if (failure) return;
          written += chunk.length;
          writtenTotal += chunk.length;
          if (written > file.size || writtenTotal > maxTotalBytes) {
            fail(rejected(file.path, 'more bytes than declared'));
            return;
          }
          hash.update(chunk);
          if (!out.write(chunk)) {
            entry.pause();
            out.once('drain', () => entry.resume());
          }
        });
        entry.on('end', () => {
          if (!failure) out.end();
        });
      });
      openStreams.delete(out);
      if (failure) return;
      if (written !== file.size) fail(rejected(file.path, `${written} bytes instead of ${file.size}`));
      else if (hash.digest('hex') !== file.sha256) fail(rejected(file.path, "content differs from the manifest's sha256"));
    }

    source.pipe(parser);
  });
}
