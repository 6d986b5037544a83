/**
 * Moving one release between stores as a single stream: how the CLI hands a
 * release to a host that cannot reach the store (over SSH's stdin). The stream is
 * a tar of the release's three store objects; the receiver accepts nothing else
 * and checks the manifest against the release id before anything is stored.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import * as tar from 'tar';
import { SlipwayError } from '../errors.js';
import { parseManifest } from '../release/manifest.js';
import { fetchRelease, putRelease, readReleaseManifest, type ReleaseInfo } from './releases.js';
import type { BlobStore } from './blob-store.js';

const ENTRY_NAMES = ['manifest.json', 'release.tar.gz', 'signature.json'] as const;
/** far above any real release; a stream claiming more is refused before it fills the disk */
const MAX_ENTRY_BYTES = 8 * 1024 ** 3;

/** Whether the store already holds this release, complete (so nothing needs sending). */
export async function hasRelease(store: BlobStore, app: string, id: string): Promise<boolean> {
  try {
    await readReleaseManifest(store, app, id);
    return await store.exists(`${app}/releases/${id}/info.json`);
  } catch {
    return false;
  }
}

/** The release's three store objects as files in `dir`, under their store names (the manifest checked against the id). */
async function downloadReleaseFiles(store: BlobStore, app: string, id: string, dir: string): Promise<{ manifestPath: string; archivePath: string; signaturePath?: string }> {
  const fetched = await fetchRelease(store, app, id, dir);
  const archivePath = path.join(dir, 'release.tar.gz');
  await fs.rename(fetched.archivePath, archivePath);
  const manifestPath = path.join(dir, 'manifest.json');
  // The stored bytes as they are (fetchRelease checked them against the id).
  await fs.writeFile(manifestPath, (await store.get(`${app}/releases/${id}/manifest.json`)) as Buffer);
  if (!fetched.signature) return { manifestPath, archivePath };
  const signaturePath = path.join(dir, 'signature.json');
  await fs.writeFile(signaturePath, fetched.signature);
  return { manifestPath, archivePath, signaturePath };
}

/** Writes the release `id` of `store` to `out` as a transfer stream. */
export async function writeReleaseStream(options: { store: BlobStore; app: string; id: string; out: Writable }): Promise<{ bytes: number }> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-send-'));
  try {
    const files = await downloadReleaseFiles(options.store, options.app, options.id, workDir);
    const paths = [files.manifestPath, files.archivePath, ...(files.signaturePath ? [files.signaturePath] : [])];
    let bytes = 0;
    for (const file of paths) bytes += (await fs.stat(file)).size;
    await pipeline(tar.create({ cwd: workDir, portable: true, noMtime: true }, paths.map((p) => path.basename(p))) as unknown as Readable, options.out);
    return { bytes };
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Reads a transfer stream from `input` and puts the release into `store`, after
 * checking that its manifest is the release `id`. The archive's files are checked
 * against the manifest when a host installs it, as for any release from a store.
 */
export async function receiveReleaseStream(options: { store: BlobStore; app: string; id: string; input: Readable }): Promise<ReleaseInfo> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-receive-'));
  try {
    const refused: string[] = [];
    await pipeline(
      options.input,
      tar.extract({
        cwd: workDir,
        strict: true,
        filter: (entryPath, entry) => {
          const ok =
            (ENTRY_NAMES as readonly string[]).includes(entryPath) &&
            'type' in entry && entry.type === 'File' &&
            (entry.size ?? 0) <= MAX_ENTRY_BYTES;
          if (!ok) refused.push(entryPath);
          return ok;
        },
      }) as unknown as Writable,
    ).catch((error: unknown) => {
      throw new SlipwayError('RELEASE_STREAM_INVALID', `the release stream could not be read: ${(error as Error).message}`, {
        hint: 'the connection may have dropped; run the command again',
        cause: error,
      });
    });
    if (refused.length > 0) {
      throw new SlipwayError('RELEASE_STREAM_INVALID', `the release stream holds entries that do not belong in it: ${refused.slice(0, 5).join(', ')}`, {
        hint: 'send releases with slipway only',
      });
    }
    const manifestPath = path.join(workDir, 'manifest.json');
    const archivePath = path.join(workDir, 'release.tar.gz');
    const signaturePath = path.join(workDir, 'signature.json');
    const present = async (file: string) => fs.stat(file).then(() => true, () => false);
    if (!(await present(manifestPath)) || !(await present(archivePath))) {
      throw new SlipwayError('RELEASE_STREAM_INVALID', 'the release stream ended before the manifest and archive arrived', {
        hint: 'the connection may have dropped; run the command again',
      });
    }
    // Refuses a manifest that is not the release asked for, before the store changes.
    parseManifest(await fs.readFile(manifestPath), options.id);
    return await putRelease(options.store, {
      app: options.app,
      id: options.id,
      manifestPath,
      archivePath,
      ...((await present(signaturePath)) ? { signaturePath } : {}),
    });
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/** Copies a release from one store to another (a host pulling from the environment's store). */
export async function copyRelease(options: { from: BlobStore; to: BlobStore; app: string; id: string }): Promise<ReleaseInfo> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-copy-'));
  try {
    const files = await downloadReleaseFiles(options.from, options.app, options.id, workDir);
    return await putRelease(options.to, { app: options.app, id: options.id, ...files });
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}
