import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { parseManifest, shortId, type ReleaseManifest } from '../release/manifest.js';
import { parseReleaseSignature, verifyReleaseSignature } from '../release/sign.js';
import { unpackRelease } from '../release/unpack.js';
import { fetchRelease } from '../store/releases.js';
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

/**
 * Fetches a release from the store, checks its digest and signature, unpacks it
 * safely into releases/<id>/, links the shared data paths, makes it read-only and
 * records it. Refused releases leave nothing behind.
 */
export async function installRelease(options: {
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  app: string;
  id: string;
  signatures: SignaturePolicy;
}): Promise<ReleaseManifest> {
  const { layout, id } = options;
  if (await isReleaseInstalled(layout, id)) return (await readInstalledManifest(layout, id))!;
  const downloadDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-fetch-'));
  try {
    const fetched = await fetchRelease(options.store, options.app, id, downloadDir);
    if (options.signatures.required) {
      verifyReleaseSignature(id, fetched.signature ? parseReleaseSignature(fetched.signature) : null, options.signatures.publicKeysPem);
    }
    const dest = releaseDir(layout, id);
    // A folder left by a crash before the manifest was recorded is not trusted: unpack again.
    await fs.rm(dest, { recursive: true, force: true });
    await unpackRelease({ archivePath: fetched.archivePath, manifest: fetched.manifest, destDir: dest });
    await linkSharedPaths({ releaseDir: dest, sharedDir: layout.sharedDir, data: fetched.manifest.runtime.data });
    await makeReadOnly(dest);
    await fs.chmod(dest, 0o555);
    await fs.mkdir(layout.manifestsDir, { recursive: true });
    await fs.writeFile(path.join(layout.manifestsDir, `${id}.json`), JSON.stringify(fetched.manifest));
    options.ledger.recordRelease({ id, version: fetched.manifest.version, commit: fetched.manifest.commit, manifestJson: JSON.stringify(fetched.manifest) });
    return fetched.manifest;
  } finally {
    await fs.rm(downloadDir, { recursive: true, force: true });
  }
}

/** Files lose their write bits, so a stray edit fails loudly instead of drifting (verify still checks). */
async function makeReadOnly(dir: string): Promise<void> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) {
      await makeReadOnly(full);
      await fs.chmod(full, 0o555);
    } else {
      const mode = (await fs.stat(full)).mode & 0o777;
      await fs.chmod(full, mode & ~0o222);
    }
  }
}

/** Makes an installed release's folder writable again so that it can be removed (prune). */
export async function removeInstalledRelease(layout: HostLayout, ledger: Ledger, id: string): Promise<void> {
  const dir = releaseDir(layout, id);
  await makeWritable(dir).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rm(path.join(layout.manifestsDir, `${id}.json`), { force: true });
  ledger.removeRelease(id);
}

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
