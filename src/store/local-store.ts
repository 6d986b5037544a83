import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../errors.js';
import { copyFileAtomic, fsyncDir, writeFileAtomic } from '../util/atomic-write.js';
import type { BlobStore } from './blob-store.js';

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
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.') && entry.name.endsWith('.tmp')) continue;
      const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isDirectory()) await walk(path.join(dir, entry.name), key, out);
      else if (entry.isFile()) out.push(key);
    }
  }

  async function readKey(key: string): Promise<Buffer | null> {
    try {
      return await fs.readFile(fileOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  return {
    description: `local folder ${resolvedRoot}`,
    async put(key, body) {
      await writeFileAtomic(fileOf(key), body);
    },
    async putFile(key, sourceFile) {
      await copyFileAtomic(sourceFile, fileOf(key));
    },
    get: readKey,
    async getIfChanged(key, etag) {
      const body = await readKey(key);
      if (!body) return null;
      // A content hash: equal content means equal tag, whatever the file's mtime.
      const current = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      return current === etag ? { notModified: true } : { notModified: false, body, etag: current };
    },
    async getToFile(key, destFile) {
      const source = fileOf(key);
      const temp = `${destFile}.${randomBytes(6).toString('hex')}.part`;
      try {
        await pipeline(createReadStream(source), createWriteStream(temp, { flags: 'wx' }));
        await fs.rename(temp, destFile);
        return true;
      } catch (error) {
        await fs.rm(temp, { force: true });
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw error;
      }
    },
    async exists(key) {
      try {
        return (await fs.stat(fileOf(key))).isFile();
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
