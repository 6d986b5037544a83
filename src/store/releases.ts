import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { parseManifest, type ReleaseManifest } from '../release/manifest.js';
import type { BlobStore } from './blob-store.js';

/** What the store knows about a release beyond its manifest (not part of the id). */
export interface ReleaseInfo {
  id: string;
  version: string;
  commit: string;
  createdAt: string;
  /** archive size in bytes */
  size: number;
  signed: boolean;
}

export interface FetchedRelease {
  manifest: ReleaseManifest;
  archivePath: string;
  /** raw signature.json bytes, or null when the release is unsigned */
  signature: Buffer | null;
}

const releaseKey = (app: string, id: string, file: string) => `${app}/releases/${id}/${file}`;

/**
 * Puts a built release into the store. The archive goes in before the manifest
 * and info, so a listed release is always complete. Publishing the same id
 * again keeps the original createdAt.
 */
export async function putRelease(
  store: BlobStore,
  options: { app: string; id: string; manifestPath: string; archivePath: string; signaturePath?: string },
): Promise<ReleaseInfo> {
  const { app, id } = options;
  const manifest = parseManifest(await fs.readFile(options.manifestPath), id);
  const existing = await readReleaseInfo(store, app, id);
  await store.putFile(releaseKey(app, id, 'release.tar.gz'), options.archivePath);
  if (options.signaturePath) await store.putFile(releaseKey(app, id, 'signature.json'), options.signaturePath);
  await store.putFile(releaseKey(app, id, 'manifest.json'), options.manifestPath);
  const size = (await fs.stat(options.archivePath)).size;
  const info: ReleaseInfo = {
    id,
    version: manifest.version,
    commit: manifest.commit,
    createdAt: existing?.createdAt ?? new Date().toISOString(),
    size,
    signed: Boolean(options.signaturePath) || (existing?.signed ?? false),
  };
  await store.put(releaseKey(app, id, 'info.json'), `${JSON.stringify(info, null, 2)}\n`);
  return info;
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
  const bytes = await store.get(releaseKey(app, id, 'manifest.json'));
  if (!bytes) {
    throw new SlipwayError('RELEASE_NOT_FOUND', `release ${id.slice(0, 12)} is not in the store (${store.description})`, {
      hint: 'run `slipway releases` to see what the store holds',
    });
  }
  return parseManifest(bytes, id);
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

/** Downloads a release's manifest (verified against the id), archive and signature into destDir. */
export async function fetchRelease(store: BlobStore, app: string, id: string, destDir: string): Promise<FetchedRelease> {
  const manifest = await readReleaseManifest(store, app, id);
  await fs.mkdir(destDir, { recursive: true });
  const archivePath = path.join(destDir, `${id}.tar.gz`);
  await fs.rm(archivePath, { force: true });
  if (!(await store.getToFile(releaseKey(app, id, 'release.tar.gz'), archivePath))) {
    throw new SlipwayError('RELEASE_INCOMPLETE', `release ${id.slice(0, 12)} has a manifest but no archive in the store`, {
      hint: 'publish it again with `slipway build`',
    });
  }
  const signature = await store.get(releaseKey(app, id, 'signature.json'));
  return { manifest, archivePath, signature };
}
