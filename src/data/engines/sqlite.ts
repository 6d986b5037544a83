/**
 * SQLite: the online backup API (a consistent copy while the app writes) into a
 * temporary file beside the backup, then gzip. Restore gunzips beside the database,
 * checks it, and renames it over the live file (atomic), with the app stopped or
 * switched away: the old database's -wal and -shm files are removed first, since a
 * stale write-ahead log must never be replayed into the restored file.
 *
 * A database file that does not exist yet backs up as empty content, and restoring
 * that removes the database (the app creates it again, as it did the first time).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { SlipwayError } from '../../errors.js';
import { corruptBackup } from '../data-errors.js';
import { diskFullError, fsyncDir, fsyncFile, gunzipToFile, isDiskFull, isZlibError, writeStreamToFile } from '../file-stream.js';
import type { BackupEngine, DataItem, Fingerprint } from '../types.js';
import type { SqliteJob, SqliteJobResult } from './sqlite-worker.js';

type SqliteItem = Extract<DataItem, { engine: 'sqlite' }>;

const SIDE_FILES = ['-wal', '-shm', '-journal'];

function runJob<T>(job: SqliteJob): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData: job });
    let settled = false;
    worker.once('message', (message: SqliteJobResult) => {
      settled = true;
      if (message.ok) resolve(message.value as T);
      else reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the SQLite worker exited with code ${code} without an answer`));
    });
  });
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

async function removeWithSideFiles(file: string): Promise<void> {
  await Promise.all(['', ...SIDE_FILES].map((s) => fs.rm(`${file}${s}`, { force: true })));
}

function sourceError(item: SqliteItem, error: unknown, outFile: string): SlipwayError {
  if (error instanceof SlipwayError) return error;
  if (isDiskFull(error)) return diskFullError(outFile, error);
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new SlipwayError('BACKUP_SOURCE_INVALID', `${item.file} (database ${item.name}) is not a readable SQLite database: ${(error as Error).message}`, {
      hint: 'Check the path in slipway.yml; if the database is damaged, restore it from an earlier backup.',
      cause: error,
    });
  }
  return new SlipwayError('BACKUP_TOOL_FAILED', `Could not back up the SQLite database ${item.file}: ${(error as Error).message}`, {
    hint: 'Check that the file is readable by the user slipway runs as.',
    cause: error,
  });
}

/** Gunzips a backup into `into` and checks it; returns its fingerprint, or null when the database was absent. */
async function unpackAndCheck(file: string, into: string): Promise<Fingerprint | null> {
  let bytes: number;
  try {
    ({ bytes } = await gunzipToFile(file, into));
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    if (isZlibError(error)) throw corruptBackup(file, `its compressed data is damaged (${(error as Error).message})`, error);
    throw error;
  }
  if (bytes === 0) {
    await fs.rm(into, { force: true });
    return null;
  }
  let result: { integrity: 'ok'; fingerprint: Fingerprint } | { integrity: string[] };
  try {
    result = await runJob({ op: 'inspect', file: into });
  } catch (error) {
    await removeWithSideFiles(into);
    if (isDiskFull(error)) throw diskFullError(into, error);
    throw corruptBackup(file, `it does not hold a readable SQLite database (${(error as Error).message})`, error);
  }
  if (result.integrity !== 'ok') {
    await removeWithSideFiles(into);
    throw corruptBackup(file, `PRAGMA integrity_check failed: ${(result.integrity as string[]).join('; ')}`);
  }
  return result.fingerprint;
}

function scratchName(file: string, what: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${what}-${randomBytes(6).toString('hex')}`);
}

/** Unpacks a backup beside it, checks it and returns its fingerprint ({} for an absent database); the scratch copy is removed. */
async function fingerprintInScratch(file: string, what: 'check' | 'verify'): Promise<Fingerprint> {
  const scratch = scratchName(file, what);
  try {
    return (await unpackAndCheck(file, scratch)) ?? {};
  } finally {
    await removeWithSideFiles(scratch);
  }
}

export const sqliteEngine: BackupEngine<SqliteItem> = {
  engine: 'sqlite',
  fileSuffix: '.sqlite.gz',

  async backup({ item, outFile, onProgress }) {
    const onBytes = (bytes: number) => onProgress?.({ item: item.name, phase: 'backup', bytes, totalBytes: null });
    if (!(await exists(item.file))) {
      const result = await writeStreamToFile({ source: Readable.from([]), file: outFile, gzip: true, onBytes });
      return { ...result, tool: 'sqlite online backup (database absent)' };
    }
    const copy = `${outFile}.copy`;
    try {
      await runJob({ op: 'backup', source: item.file, dest: copy });
      await fsyncFile(copy);
      const { size } = await fs.stat(copy);
      const { bytes, sha256 } = await writeStreamToFile({
        source: createReadStream(copy),
        file: outFile,
        gzip: true,
        onBytes: (b) => onProgress?.({ item: item.name, phase: 'backup', bytes: b, totalBytes: size }),
      });
      return { bytes, sha256, tool: 'sqlite online backup + gzip' };
    } catch (error) {
      await fs.rm(outFile, { force: true });
      throw sourceError(item, error, outFile);
    } finally {
      await removeWithSideFiles(copy);
    }
  },

  inspect({ file }) {
    return fingerprintInScratch(file, 'check');
  },

  async restore({ item, file }) {
    const dir = path.dirname(item.file);
    await fs.mkdir(dir, { recursive: true });
    const incoming = scratchName(item.file, 'restore');
    try {
      const fingerprint = await unpackAndCheck(file, incoming);
      if (fingerprint === null) {
        await removeWithSideFiles(item.file);
        await fsyncDir(dir);
        return;
      }
      try {
        const old = await fs.stat(item.file);
        await fs.chmod(incoming, old.mode & 0o7777);
        if (process.getuid?.() === 0) await fs.chown(incoming, old.uid, old.gid);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await fs.chmod(incoming, 0o644);
      }
      await fsyncFile(incoming);
      await Promise.all(SIDE_FILES.map((s) => fs.rm(`${item.file}${s}`, { force: true })));
      await fs.rename(incoming, item.file);
      await fsyncDir(dir);
    } finally {
      await removeWithSideFiles(incoming);
    }
  },

  scratchFingerprint({ file }) {
    return fingerprintInScratch(file, 'verify');
  },

  async fingerprint({ item }) {
    if (!(await exists(item.file))) return {};
    return runJob<Fingerprint>({ op: 'fingerprint', file: item.file });
  },
};

/** Runs an SQL file against the SQLite database in one transaction (the scrub of a production → staging copy). */
export async function runSqliteSqlFile(o: { item: SqliteItem; sqlFile: string }): Promise<void> {
  const sql = await fs.readFile(o.sqlFile, 'utf8');
  try {
    await runJob({ op: 'exec', file: o.item.file, sql });
  } catch (error) {
    throw new SlipwayError('BACKUP_SCRUB_FAILED', `Running ${o.sqlFile} against ${o.item.file} failed: ${(error as Error).message}`, {
      hint: 'Fix the SQL file; it ran in one transaction, so nothing of it was applied.',
      cause: error,
    });
  }
}
