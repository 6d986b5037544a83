import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../errors.js';
import { copyFileAtomic, fsyncDir, writeFileAtomic } from '../util/atomic-write.js';
import { objectTooLarge, type BlobStore } from './blob-store.js';

/** A store in a local folder: the embedded default ($SLIPWAY_HOME/store). */
export function createLocalStore(root: string): BlobStore {
  const resolvedRoot = path.resolve(root);

  function fileOf(key: string): string {
    if (key.length === 0 || key.startsWith('/') || key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
      throw new SlipwayError('STORE_BAD_KEY', `refusing the store key "${key}"`, { hint: 'this is a bug in slipway; please report it' });
    }
    return path.join(resolvedRoot, ...key.split('/'));
  }

  async function walk(dir: string, prefix: string, out: string[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (error) {
      // nothing under a prefix that does not exist, or that names an object rather than a folder
      if (isAbsent(error)) return;
      throw error;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.') && entry.name.endsWith('.tmp')) continue;
      const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) await walk(path.join(dir, entry.name), key, out);
      else if (entry.isFile()) out.push(key);
    }
  }

  async function readKey(key: string, maxBytes?: number): Promise<Buffer | null> {
    if (maxBytes === undefined) {
      try {
        return await fs.readFile(fileOf(key));
      } catch (error) {
        if (isAbsent(error)) return null;
        throw error;
      }
    }
    let handle: import('node:fs/promises').FileHandle;
    try {
      handle = await fs.open(fileOf(key), 'r');
    } catch (error) {
      if (isAbsent(error)) return null;
      throw error;
    }
    try {
      const size = (await handle.stat()).size;
      if (size > maxBytes) throw objectTooLarge(key, `local folder ${resolvedRoot}`, maxBytes);
      // Sized by the file (a buffer of maxBytes, zeroed, cost a manifest read a tenth of a second), grown if the
      // file grows while it is read, and never past maxBytes + 1.
      let buffer = Buffer.alloc(size + 1);
      let length = 0;
      for (;;) {
        if (length === buffer.length) {
          const grown = Buffer.alloc(Math.min(buffer.length * 2, maxBytes + 1));
          buffer.copy(grown);
          buffer = grown;
        }
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > maxBytes) throw objectTooLarge(key, `local folder ${resolvedRoot}`, maxBytes);
      }
      return buffer.subarray(0, length);
    } finally {
      await handle.close();
    }
  }

  /** Writes fail with a message naming the store, not a bare errno (a --store path that is a file, a read-only folder). */
  async function writing(key: string, write: (file: string) => Promise<void>): Promise<void> {
    const file = fileOf(key);
    try {
      await write(file);
    } catch (error) {
      throw new SlipwayError('STORE_WRITE_FAILED', `cannot write ${key} in the local store ${resolvedRoot}: ${(error as Error).message}`, {
        cause: error,
        hint: `check that ${resolvedRoot} is a folder you can write to (it comes from --store, store.path in slipway.yml, or $SLIPWAY_HOME)`,
      });
    }
  }

  return {
    description: `local folder ${resolvedRoot}`,
    async put(key, body) {
      await writing(key, (file) => writeFileAtomic(file, body));
    },
    async putFile(key, sourceFile, options) {
      await writing(key, async (file) => {
        if (options?.consume) {
          // A rename is atomic and costs nothing; across file systems it fails, and the copy below does the job.
          await fs.mkdir(path.dirname(file), { recursive: true });
          const moved = await fs.rename(sourceFile, file).then(
            () => true,
            () => false,
          );
          if (moved) {
            await fsyncDir(path.dirname(file)).catch(() => undefined);
            return;
          }
        }
        await copyFileAtomic(sourceFile, file);
      });
    },
    get: (key, options) => readKey(key, options?.maxBytes),
    async getIfChanged(key, etag, options) {
      const body = await readKey(key, options?.maxBytes);
      if (!body) return null;
      // A content hash: equal content means equal tag, whatever the file's mtime.
      const current = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      return current === etag ? { notModified: true } : { notModified: false, body, etag: current };
    },
    async getToFile(key, destFile) {
      const source = fileOf(key);
      // Open the source first: a missing key must not race the creation of the temp file.
      let handle: import('node:fs/promises').FileHandle;
      try {
        handle = await fs.open(source, 'r');
      } catch (error) {
        if (isAbsent(error)) return false;
        throw error;
      }
      const temp = `${destFile}.${randomBytes(6).toString('hex')}.part`;
      try {
        // The temp file exists before any byte moves, so the cleanup below always finds it.
        const out = await fs.open(temp, 'wx').catch(async (error) => {
          await handle.close();
          throw error;
        });
        await pipeline(handle.createReadStream(), out.createWriteStream());
        await fs.rename(temp, destFile);
        return true;
      } catch (error) {
        await fs.rm(temp, { force: true });
        if (isAbsent(error)) return false;
        throw error;
      }
    },
    async getRange(key, start, end) {
      let handle: import('node:fs/promises').FileHandle;
      try {
        handle = await fs.open(fileOf(key), 'r');
      } catch (error) {
        if (isAbsent(error)) return null;
        throw error;
      }
      try {
        const buffer = Buffer.allocUnsafe(end - start);
        let filled = 0;
        while (filled < buffer.length) {
          const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
          if (bytesRead === 0) throw new SlipwayError('STORE_RANGE_INVALID', `${key} in ${resolvedRoot} is shorter than the range ${start}-${end} asked of it`, { hint: 'the store is damaged; publish the release again' });
          filled += bytesRead;
        }
        return buffer;
      } finally {
        await handle.close();
      }
    },
    async exists(key) {
      const file = fileOf(key); // a refused key throws instead of reading as absent
      try {
        return (await fs.stat(file)).isFile();
      } catch {
        return false;
      }
    },
    async list(prefix) {
      const trimmed = prefix.replace(/\/+$/, '');
      const out: string[] = [];
      await walk(trimmed === '' ? resolvedRoot : fileOf(trimmed), trimmed, out);
      return out.sort();
    },
    async delete(key) {
      const file = fileOf(key);
      await fs.rm(file, { force: true });
      await fsyncDir(path.dirname(file)).catch(() => undefined);
    },
  };
}

/** ENOTDIR: a part of the key's path is an object, so the key cannot exist either. */
function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
