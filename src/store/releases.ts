import { promises as fs } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { parseManifest, type ReleaseManifest } from '../release/manifest.js';
import { releaseWrongApp } from '../release/sign.js';
import type { BlobStore } from './blob-store.js';
import type { ObjectIndex } from './objects.js';
import { putObjects, type ObjectsProgress } from './put-objects.js';
import type { ContentSource } from '../release/content-source.js';
import type { BuiltRelease } from '../release/build.js';

/** what releases were stored as before content objects: one tar.gz each */
const LEGACY_ARCHIVE = 'release.tar.gz';

/** What the store knows about a release beyond its manifest (not part of the id). */
export interface ReleaseInfo {
  id: string;
  version: string;
  commit: string;
  createdAt: string;
  /** bytes the release's contents take in the store (shared with other releases) */
  size: number;
  signed: boolean;
}

/** A legacy release's archive, downloaded (releases published before content objects). */
export interface FetchedArchive {
  manifest: ReleaseManifest;
  archivePath: string;
}

export interface PublishedRelease {
  info: ReleaseInfo;
  /** contents this publish added to the store, and the bytes they take there */
  addedObjects: number;
  addedBytes: number;
}

const releaseKey = (app: string, id: string, file: string) => `${app}/releases/${id}/${file}`;

/** digest → size of every content a release holds (each once). */
export function releaseObjects(manifest: ReleaseManifest): Map<string, number> {
  const wanted = new Map<string, number>();
  for (const file of manifest.files) wanted.set(file.sha256, file.size);
  return wanted;
}

/**
 * Puts a release into the store: the contents the store lacks first, then the
 * signature, the manifest and its info, so a listed release is always complete.
 * Publishing the same id again keeps the original createdAt.
 */
export async function putRelease(
  store: BlobStore,
  options: { app: string; id: string; manifestBytes: Buffer; signatureBytes?: Buffer | null; content: ContentSource; index?: ObjectIndex; onProgress?: ObjectsProgress },
): Promise<PublishedRelease> {
  const { app, id } = options;
  const manifest = parseManifest(options.manifestBytes, id);
  // A release of another app never goes under this app's name (publish, `release receive`, copies).
  if (manifest.app !== app) throw releaseWrongApp({ id, expected: app, actual: manifest.app, where: store.description });
  const existing = await readReleaseInfo(store, app, id);
  const added = await putObjects(store, app, releaseObjects(manifest), options.content, { index: options.index, onProgress: options.onProgress });
  if (options.signatureBytes) await store.put(releaseKey(app, id, 'signature.json'), options.signatureBytes);
  // Stored gzipped: the manifest of a 50,000-file release is 10 MB of JSON, most of it
  // paths that compress well; it is what every release costs beyond its new contents.
  await store.put(releaseKey(app, id, 'manifest.json'), gzipSync(options.manifestBytes, { level: 9 }));
  const info: ReleaseInfo = {
    id,
    version: manifest.version,
    commit: manifest.commit,
    createdAt: existing?.createdAt ?? new Date().toISOString(),
    size: added.storedBytes,
    signed: Boolean(options.signatureBytes) || (existing?.signed ?? false),
  };
  await store.put(releaseKey(app, id, 'info.json'), `${JSON.stringify(info, null, 2)}\n`);
  return { info, addedObjects: added.addedObjects, addedBytes: added.addedBytes };
}

/** Puts a release that was just built (its manifest, signature and built tree) into the store. */
export async function putBuiltRelease(store: BlobStore, app: string, built: BuiltRelease, onProgress?: ObjectsProgress): Promise<PublishedRelease> {
  return putRelease(store, {
    app,
    id: built.id,
    manifestBytes: await fs.readFile(built.manifestPath),
    signatureBytes: built.signaturePath ? await fs.readFile(built.signaturePath) : null,
    content: built.content,
    onProgress,
  });
}

/**
 * The most bytes a release manifest may take, uncompressed (far above a real one: 50,000
 * files make about 10 MB). Neither its download nor its decompression goes past this.
 */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;
/** The most bytes of a signature.json (a real one is about 200). */
export const MAX_SIGNATURE_BYTES = 64 * 1024;

function manifestTooLarge(id: string, store: BlobStore): SlipwayError {
  return new SlipwayError('RELEASE_MANIFEST_TOO_LARGE', `the manifest of release ${id.slice(0, 12)} in ${store.description} is larger than ${MAX_MANIFEST_BYTES} bytes; cut off and refused, nothing was fetched`, {
    hint: 'no release slipway builds has a manifest this large: the store holds something else under this release; remove it and publish again',
  });
}

/** The manifest's bytes as built: stored gzipped, or as plain JSON (how slipway stored it before content objects). */
async function readStoredManifest(store: BlobStore, app: string, id: string): Promise<Buffer | null> {
  let bytes: Buffer | null;
  try {
    bytes = await store.get(releaseKey(app, id, 'manifest.json'), { maxBytes: MAX_MANIFEST_BYTES });
  } catch (error) {
    if ((error as { code?: string }).code === 'STORE_OBJECT_TOO_LARGE') throw manifestTooLarge(id, store);
    throw error;
  }
  if (!bytes || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_MANIFEST_BYTES });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw manifestTooLarge(id, store);
    return bytes; // not gzip after all: parseManifest says what is wrong with it
  }
}

async function readReleaseInfo(store: BlobStore, app: string, id: string): Promise<ReleaseInfo | null> {
  const bytes = await store.get(releaseKey(app, id, 'info.json'));
  if (!bytes) return null;
  try {
    return JSON.parse(bytes.toString('utf8')) as ReleaseInfo;
  } catch {
    return null;
  }
}

/** Every complete release of the app, oldest first. */
export async function listReleases(store: BlobStore, app: string): Promise<ReleaseInfo[]> {
  const keys = await store.list(`${app}/releases`);
  const ids = keys.filter((key) => key.endsWith('/info.json')).map((key) => key.split('/')[2]!);
  const infos: ReleaseInfo[] = [];
  for (const id of ids) {
    const info = await readReleaseInfo(store, app, id);
    if (info) infos.push(info);
  }
  return infos.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.version.localeCompare(b.version));
}

/** The manifest of a release, verified against its id. */
export async function readReleaseManifest(store: BlobStore, app: string, id: string): Promise<ReleaseManifest> {
  return (await readCheckedReleaseManifest(store, app, id)).manifest;
}

/**
 * Finds a release by version, full id or an id prefix of at least 7 characters.
 * When several releases carry the same version, the newest wins.
 */
export async function resolveRelease(store: BlobStore, app: string, versionOrId: string): Promise<ReleaseInfo> {
  const releases = await listReleases(store, app);
  const byVersion = releases.filter((r) => r.version === versionOrId);
  if (byVersion.length > 0) return byVersion[byVersion.length - 1]!;
  if (/^[0-9a-f]{7,64}$/.test(versionOrId)) {
    const byId = releases.filter((r) => r.id.startsWith(versionOrId));
    if (byId.length === 1) return byId[0]!;
    if (byId.length > 1) {
      throw new SlipwayError('RELEASE_AMBIGUOUS', `"${versionOrId}" matches ${byId.length} releases`, {
        exitCode: 2,
        hint: 'give more characters of the id, or the version',
      });
    }
  }
  const known = releases.map((r) => r.version);
  throw new SlipwayError('RELEASE_NOT_FOUND', `no release "${versionOrId}" in the store (${store.description})`, {
    exitCode: 2,
    hint: known.length > 0 ? `known versions: ${[...new Set(known)].join(', ')}` : 'build one with `slipway build`',
  });
}

/** The release named by version or id, or the newest in the store when none is named. */
export async function resolveReleaseOrNewest(store: BlobStore, app: string, versionOrId: string | undefined): Promise<ReleaseInfo> {
  const release = versionOrId ? await resolveRelease(store, app, versionOrId) : (await listReleases(store, app)).at(-1);
  if (!release) {
    throw new SlipwayError('RELEASE_NOT_FOUND', `no releases of ${app} in ${store.description}`, { exitCode: 2, hint: 'build one with `slipway build`' });
  }
  return release;
}

/** The raw signature.json of a release, or null when it is unsigned. */
export async function readReleaseSignature(store: BlobStore, app: string, id: string): Promise<Buffer | null> {
  return store.get(releaseKey(app, id, 'signature.json'), { maxBytes: MAX_SIGNATURE_BYTES });
}

/** The manifest's bytes exactly as stored (checked against the id). */
export async function readCheckedReleaseManifest(store: BlobStore, app: string, id: string): Promise<{ manifestBytes: Buffer; manifest: ReleaseManifest }> {
  const manifestBytes = await readStoredManifest(store, app, id);
  if (!manifestBytes) {
    throw new SlipwayError('RELEASE_NOT_FOUND', `release ${id.slice(0, 12)} is not in the store (${store.description})`, {
      hint: 'run `slipway releases` to see what the store holds',
    });
  }
  // Parsed once: a 50,000-file manifest takes tens of milliseconds to check.
  return { manifestBytes, manifest: parseManifest(manifestBytes, id) };
}

/** Whether the release was published as one archive (before content objects); `slipway store migrate` moves it over. */
export async function hasLegacyArchive(store: BlobStore, app: string, id: string): Promise<boolean> {
  return store.exists(releaseKey(app, id, LEGACY_ARCHIVE));
}

export async function deleteLegacyArchive(store: BlobStore, app: string, id: string): Promise<void> {
  await store.delete(releaseKey(app, id, LEGACY_ARCHIVE));
}

/** Downloads a legacy release's manifest (verified against the id) and archive into destDir. */
export async function fetchLegacyArchive(store: BlobStore, app: string, id: string, destDir: string): Promise<FetchedArchive> {
  const manifest = await readReleaseManifest(store, app, id);
  await fs.mkdir(destDir, { recursive: true });
  const archivePath = path.join(destDir, `${id}.tar.gz`);
  await fs.rm(archivePath, { force: true });
  if (!(await store.getToFile(releaseKey(app, id, LEGACY_ARCHIVE), archivePath))) {
    throw new SlipwayError('RELEASE_INCOMPLETE', `release ${id.slice(0, 12)} has a manifest but no content in the store`, {
      hint: 'publish it again with `slipway build`',
    });
  }
  return { manifest, archivePath };
}
