import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { parseManifest, shortId, type ReleaseManifest } from '../release/manifest.js';
import { parseReleaseSignature, verifyReleaseSignature } from '../release/sign.js';
import { unpackRelease } from '../release/unpack.js';
import { fetchLegacyArchive, hasLegacyArchive, readReleaseManifestBytes, readReleaseSignature } from '../store/releases.js';
import { loadObjectIndex, readObjects } from '../store/objects.js';
import { materializeRelease, writeStatSnapshot } from './materialize-release.js';
import type { StatSnapshot } from '../release/verify-tree.js';
import { copyObject, hasObject, writeObject } from './objects.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Ledger } from '../host/ledger.js';
import { releaseDir, type HostLayout } from './layout.js';
import { linkSharedPaths } from './shared-links.js';

export interface SignaturePolicy {
  required: boolean;
  publicKeysPem: string[];
}

/** The manifest a host keeps for an installed release (manifests/<id>.json), verified against the id. */
export async function readInstalledManifest(layout: HostLayout, id: string): Promise<ReleaseManifest | null> {
  try {
    return parseManifest(await fs.readFile(path.join(layout.manifestsDir, `${id}.json`)), id);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export async function isReleaseInstalled(layout: HostLayout, id: string): Promise<boolean> {
  const dir = await fs.stat(releaseDir(layout, id)).catch(() => null);
  return Boolean(dir?.isDirectory()) && (await readInstalledManifest(layout, id)) !== null;
}

export interface InstallProgress {
  (phase: 'fetch', doneBytes: number, totalBytes: number): void;
}

/** What an install moved and reused, for the step's output and the benchmarks. */
export interface InstallResult {
  manifest: ReleaseManifest;
  /** contents fetched from the store (new to this host) */
  fetchedObjects: number;
  fetchedBytes: number;
  /** files whose content the host already held (hard-linked, not fetched) */
  reusedFiles: number;
}

/**
 * Fetches a release from the store, checks its digest and signature, brings in the
 * contents the host lacks (each checked against its digest), makes the release's
 * folder out of hard links to the host's objects, links the shared data paths, makes
 * it read-only and records it. Everything happens in a temporary folder renamed into
 * place at the end: refused releases leave nothing behind.
 */
export async function installRelease(options: {
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  app: string;
  id: string;
  signatures: SignaturePolicy;
  onProgress?: InstallProgress;
}): Promise<InstallResult> {
  const { layout, id } = options;
  if (await isReleaseInstalled(layout, id)) return { manifest: (await readInstalledManifest(layout, id))!, fetchedObjects: 0, fetchedBytes: 0, reusedFiles: 0 };
  // The signature is checked against the id before any content is fetched.
  const manifestBytes = await readReleaseManifestBytes(options.store, options.app, id);
  const manifest = parseManifest(manifestBytes, id);
  if (options.signatures.required) {
    const signature = await readReleaseSignature(options.store, options.app, id);
    verifyReleaseSignature(id, signature ? parseReleaseSignature(signature) : null, options.signatures.publicKeysPem);
  }
  await fs.mkdir(layout.objectsDir, { recursive: true });
  // Objects written for a release that is then refused are removed again: a refused release leaves nothing behind.
  const written: string[] = [];
  let fetched: Omit<InstallResult, 'manifest'>;
  try {
    fetched = await bringObjects({ ...options, manifest, written });
  } catch (error) {
    for (const file of written) await fs.rm(file, { force: true });
    throw error;
  }

  const dest = releaseDir(layout, id);
  // A folder left by a crash before the manifest was recorded is not trusted: make it again.
  await removeReleaseFolder(dest);
  const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
  await fs.mkdir(tmp, { mode: 0o700 });
  try {
    await materializeRelease({ layout, manifest, dir: tmp });
    await fs.mkdir(layout.manifestsDir, { recursive: true });
    await writeStatSnapshot({ dir: tmp, manifest, file: statSnapshotFile(layout, id) });
    await linkSharedPaths({ releaseDir: tmp, sharedDir: layout.sharedDir, data: manifest.runtime.data });
    await makeFoldersReadOnly(tmp);
    await fs.rename(tmp, dest);
  } catch (error) {
    await removeReleaseFolder(tmp);
    throw error;
  }
  await fs.writeFile(path.join(layout.manifestsDir, `${id}.json`), manifestBytes);
  options.ledger.recordRelease({ id, version: manifest.version, commit: manifest.commit, manifestJson: '' });
  return { manifest, ...fetched };
}

/** The stat snapshot of an installed release, or null (installed before snapshots, or unreadable: then verify re-hashes all). */
export async function readStatSnapshot(layout: HostLayout, id: string): Promise<StatSnapshot | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(statSnapshotFile(layout, id), 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as StatSnapshot) : null;
  } catch {
    return null;
  }
}

/** manifests/<id>.stat.json: what each file looked like when installed (see writeStatSnapshot). */
export function statSnapshotFile(layout: HostLayout, id: string): string {
  return path.join(layout.manifestsDir, `${id}.stat.json`);
}

/**
 * Makes sure the host holds an object for every file of the release: reused when it is
 * there, copied locally when only the other mode is, fetched from the store otherwise.
 * A release stored as one archive (published before content objects) is unpacked,
 * verified, into a temporary folder and its files become objects.
 */
async function bringObjects(o: {
  layout: HostLayout;
  store: BlobStore;
  app: string;
  id: string;
  manifest: ReleaseManifest;
  onProgress?: InstallProgress;
  /** every object file this call writes, so a caller can take them back */
  written: string[];
}): Promise<Omit<InstallResult, 'manifest'>> {
  const { layout, manifest } = o;
  const needed = new Map<string, { sha256: string; size: number; mode: number }>();
  for (const file of manifest.files) needed.set(`${file.sha256}:${file.mode}`, file);
  const toFetch = new Map<string, { sha256: string; size: number; modes: Set<number> }>();
  let checked = 0;
  for (const object of needed.values()) {
    if (!hasObject(layout, object.sha256, object.mode, object.size)) {
      const otherMode = object.mode === 0o755 ? 0o644 : 0o755;
      if (hasObject(layout, object.sha256, otherMode, object.size)) o.written.push(copyObject(layout, object.sha256, otherMode, object.mode));
      else {
        const entry = toFetch.get(object.sha256) ?? { sha256: object.sha256, size: object.size, modes: new Set<number>() };
        entry.modes.add(object.mode);
        toFetch.set(object.sha256, entry);
      }
    }
    if (++checked % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const fetchedFileCount = manifest.files.filter((f) => toFetch.has(f.sha256)).length;
  const result = { fetchedObjects: toFetch.size, fetchedBytes: 0, reusedFiles: manifest.files.length - fetchedFileCount };
  if (toFetch.size === 0) return result;

  if (await hasLegacyArchive(o.store, o.app, o.id)) {
    result.fetchedBytes = await objectsFromLegacyArchive({ ...o, toFetch });
    return result;
  }
  const index = await loadObjectIndex(o.store, o.app, { cacheDir: path.join(layout.cacheDir, 'packs') });
  const wanted = [...toFetch.values()].map(({ sha256, size }) => ({ sha256, size }));
  const read = await readObjects(
    o.store,
    o.app,
    wanted,
    index,
    (digest, content) => {
      for (const mode of toFetch.get(digest)!.modes) o.written.push(writeObject(layout, digest, mode, content));
    },
    { onProgress: (done, total) => o.onProgress?.('fetch', done, total) },
  );
  result.fetchedBytes = read.fetchedBytes;
  return result;
}

async function objectsFromLegacyArchive(o: {
  layout: HostLayout;
  store: BlobStore;
  app: string;
  id: string;
  manifest: ReleaseManifest;
  toFetch: Map<string, { sha256: string; modes: Set<number> }>;
  written: string[];
}): Promise<number> {
  const downloadDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-fetch-'));
  try {
    const fetched = await fetchLegacyArchive(o.store, o.app, o.id, downloadDir);
    const tree = path.join(downloadDir, 'tree');
    await unpackRelease({ archivePath: fetched.archivePath, manifest: o.manifest, destDir: tree });
    for (const file of o.manifest.files) {
      const wanted = o.toFetch.get(file.sha256);
      if (!wanted) continue;
      const content = await fs.readFile(path.join(tree, ...file.path.split('/')));
      for (const mode of wanted.modes) o.written.push(writeObject(o.layout, file.sha256, mode, content));
      o.toFetch.delete(file.sha256);
    }
    return (await fs.stat(fetched.archivePath)).size;
  } finally {
    await fs.rm(downloadDir, { recursive: true, force: true });
  }
}

/** Folders become read-only, so a stray write fails loudly instead of drifting (files are read-only objects already). */
async function makeFoldersReadOnly(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeFoldersReadOnly(path.join(dir, entry.name));
  }
  await fs.chmod(dir, 0o555);
}

async function removeReleaseFolder(dir: string): Promise<void> {
  await makeWritable(dir).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
}

/** Makes an installed release's folder writable again so that it can be removed (prune). */
export async function removeInstalledRelease(layout: HostLayout, ledger: Ledger, id: string): Promise<void> {
  await removeReleaseFolder(releaseDir(layout, id));
  await fs.rm(path.join(layout.manifestsDir, `${id}.json`), { force: true });
  await fs.rm(statSnapshotFile(layout, id), { force: true });
  ledger.removeRelease(id);
}

/** Folders only: files are hard links to read-only objects, and unlinking them needs no write bit on the file. */
async function makeWritable(dir: string): Promise<void> {
  await fs.chmod(dir, 0o755);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await makeWritable(path.join(dir, entry.name));
  }
}

export function releaseNotFoundOnHost(versionOrId: string, known: string[]): SlipwayError {
  return new SlipwayError('RELEASE_NOT_ON_HOST', `release ${versionOrId.length === 64 ? shortId(versionOrId) : versionOrId} is not on this host`, {
    exitCode: 2,
    hint: known.length > 0 ? `releases on this host: ${known.join(', ')}` : 'deploy it first with `slipway deploy`',
  });
}
