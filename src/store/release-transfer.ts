/**
 * Moving one release between stores: copying it from the environment's store to a
 * host's, and handing it to a host that cannot reach the store as a single stream
 * (over SSH's stdin). The stream is a tar of the manifest, the signature and the
 * release's contents named by digest (its files' and its container images' layers and
 * configs alike); the receiver accepts nothing else, checks the manifest against the
 * release id and each content against its digest before anything is stored.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import * as tar from 'tar';
import { SlipwayError } from '../errors.js';
import { folderContentSource } from '../release/content-source.js';
import { parseManifest } from '../release/manifest.js';
import { releaseWrongApp } from '../release/sign.js';
import { fetchReleaseContent } from './object-sources.js';
import { loadObjectIndex } from './objects.js';
import { fetchImageObjects, putImageObjects, releaseImageObjects } from './image-objects.js';
import { putRelease, readReleaseManifest, readCheckedReleaseManifest, readReleaseSignature, type ReleaseInfo } from './releases.js';
import type { BlobStore } from './blob-store.js';

const OBJECT_ENTRY = /^objects\/[0-9a-f]{64}$/;
/** far above any real release file; a stream claiming more is refused before it fills the disk */
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

/** Writes the release `id` of `store` to `out` as a transfer stream, leaving out the contents `skip` says the receiver holds. */
export async function writeReleaseStream(options: { store: BlobStore; app: string; id: string; out: Writable; skip?: (digest: string) => boolean }): Promise<{ bytes: number }> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-send-'));
  try {
    const { manifestBytes, manifest } = await readCheckedReleaseManifest(options.store, options.app, options.id);
    const source = await fetchReleaseContent({ from: options.store, app: options.app, id: options.id, manifest, dir: path.join(workDir, 'fetched'), skip: options.skip });
    const staged = path.join(workDir, 'stream');
    await fs.mkdir(path.join(staged, 'objects'), { recursive: true });
    await fs.writeFile(path.join(staged, 'manifest.json'), manifestBytes);
    const names = ['manifest.json'];
    const signature = await readReleaseSignature(options.store, options.app, options.id);
    if (signature) {
      await fs.writeFile(path.join(staged, 'signature.json'), signature);
      names.push('signature.json');
    }
    let bytes = manifestBytes.length + (signature?.length ?? 0);
    const sent = new Set<string>();
    for (const digest of new Set(manifest.files.map((f) => f.sha256))) {
      if (options.skip?.(digest)) continue;
      const content = await source.read(digest);
      await fs.writeFile(path.join(staged, 'objects', digest), content);
      names.push(`objects/${digest}`);
      sent.add(digest);
      bytes += content.length;
    }
    // The images' layers and configs travel the same way: only those the receiver lacks.
    const images = await fetchImageObjects({ from: options.store, app: options.app, manifest, dir: path.join(staged, 'objects'), skip: (digest) => sent.has(digest) || Boolean(options.skip?.(digest)) });
    for (const [digest, size] of images) {
      names.push(`objects/${digest}`);
      bytes += size;
    }
    await pipeline(tar.create({ cwd: staged, portable: true, noMtime: true, gzip: { level: 1 } }, names) as unknown as Readable, options.out);
    return { bytes };
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Reads a transfer stream from `input` and puts the release into `store`, after
 * checking that its manifest is the release `id`; each content is checked against its
 * digest as it is stored, and only contents the store lacks are stored.
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
          const named = entryPath === 'manifest.json' || entryPath === 'signature.json' || OBJECT_ENTRY.test(entryPath) || entryPath === 'objects/';
          const ok = named && 'type' in entry && (entry.type === 'File' || (entryPath === 'objects/' && entry.type === 'Directory')) && (entry.size ?? 0) <= MAX_ENTRY_BYTES;
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
    const signaturePath = path.join(workDir, 'signature.json');
    const manifestBytes = await fs.readFile(manifestPath).catch(() => null);
    if (!manifestBytes) {
      throw new SlipwayError('RELEASE_STREAM_INVALID', 'the release stream ended before the manifest arrived', {
        hint: 'the connection may have dropped; run the command again',
      });
    }
    // Refuses a manifest that is not the release asked for, before the store changes.
    const manifest = parseManifest(manifestBytes, options.id);
    if (manifest.app !== options.app) throw releaseWrongApp({ id: options.id, expected: options.app, actual: manifest.app, where: options.store.description });
    const objectsDir = path.join(workDir, 'objects');
    const source = folderContentSource(objectsDir);
    const streamEnded = (digest: string) =>
      new SlipwayError('RELEASE_STREAM_INVALID', `the release stream ended before content ${digest.slice(0, 12)} arrived`, {
        hint: 'the connection may have dropped; run the command again',
      });
    // Images first, each checked against its digest: the manifest, written last, lists a release that is whole.
    const imageObjects = new Map<string, number>();
    for (const object of releaseImageObjects(manifest)) {
      imageObjects.set(object.sha256, object.size ?? (await fs.stat(path.join(objectsDir, object.sha256)).then((s) => s.size, () => 0)));
    }
    await putImageObjects(options.store, options.app, imageObjects, {
      read: (digest) =>
        source.read(digest).catch(() => {
          throw streamEnded(digest);
        }),
    });
    return (
      await putRelease(options.store, {
        app: options.app,
        id: options.id,
        manifestBytes,
        signatureBytes: await fs.readFile(signaturePath).catch(() => null),
        content: {
          read: (digest) =>
            source.read(digest).catch(() => {
              throw streamEnded(digest);
            }),
        },
      })
    ).info;
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/** Copies a release from one store to another: only the contents `to` lacks are read and sent. */
export async function copyRelease(options: { from: BlobStore; to: BlobStore; app: string; id: string }): Promise<ReleaseInfo> {
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-copy-'));
  try {
    const { manifestBytes, manifest } = await readCheckedReleaseManifest(options.from, options.app, options.id);
    const index = await loadObjectIndex(options.to, options.app);
    const content = await fetchReleaseContent({ from: options.from, app: options.app, id: options.id, manifest, dir: workDir, skip: (digest) => index.has(digest) });
    // The images' objects go in before the release's manifest, only those `to` lacks.
    const imagesDir = path.join(workDir, 'images');
    const images = await fetchImageObjects({ from: options.from, app: options.app, manifest, dir: imagesDir, skip: (digest) => index.has(digest) });
    await putImageObjects(options.to, options.app, images, folderContentSource(imagesDir), { index });
    const signatureBytes = await readReleaseSignature(options.from, options.app, options.id);
    return (await putRelease(options.to, { app: options.app, id: options.id, manifestBytes, signatureBytes, content, index })).info;
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
}
