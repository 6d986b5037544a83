/**
 * Keeping a store in shape: removing old releases and the contents no kept release
 * needs, and moving releases stored as one archive (before content objects) over to
 * content objects.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseManifest } from '../release/manifest.js';
import type { BlobStore } from './blob-store.js';
import { collectObjects, loadObjectIndex, type CollectResult } from './objects.js';
import { fetchReleaseContent } from './object-sources.js';
import { releaseImageObjects } from './image-objects.js';
import { deleteLegacyArchive, hasLegacyArchive, listReleases, putRelease, readReleaseManifest, readCheckedReleaseManifest, readReleaseSignature, type ReleaseInfo } from './releases.js';
import { deleteRegistryRecords } from './registry-records.js';

/** How long a new pack is safe from collection: a publish puts its pack before its manifest. */
export const PACK_GRACE_MS = 60 * 60_000;

export interface StorePruneResult {
  removed: Array<{ id: string; version: string }>;
  kept: Array<{ id: string; version: string; why: string }>;
  objects: CollectResult;
}

/**
 * Keeps the newest `keep` releases of the app, every release a channel points at, and
 * every release in `alsoKeep` (what hosts run); removes the others, then the packs
 * none of the kept releases needs. Manifests go before contents, so a release that is
 * listed is always whole.
 */
export async function pruneStore(store: BlobStore, app: string, o: { keep: number; channelReleaseIds: ReadonlySet<string>; dryRun?: boolean; graceMs?: number }): Promise<StorePruneResult> {
  const releases = (await listReleases(store, app)).reverse(); // newest first
  const kept: StorePruneResult['kept'] = [];
  const removed: ReleaseInfo[] = [];
  releases.forEach((release, i) => {
    if (o.channelReleaseIds.has(release.id)) kept.push({ id: release.id, version: release.version, why: 'a channel points at it' });
    else if (i < o.keep) kept.push({ id: release.id, version: release.version, why: `one of the newest ${o.keep}` });
    else removed.push(release);
  });
  const referenced = new Set<string>();
  for (const release of kept) {
    const manifest = await readReleaseManifest(store, app, release.id);
    for (const file of manifest.files) referenced.add(file.sha256);
    // A kept release's container images: its layers and configs are objects too.
    for (const object of releaseImageObjects(manifest)) referenced.add(object.sha256);
  }
  if (!o.dryRun) {
    for (const release of removed) {
      // info.json first: the release stops being listed before any of it goes.
      for (const file of ['info.json', 'manifest.json', 'signature.json', 'release.tar.gz']) await store.delete(`${app}/releases/${release.id}/${file}`);
      await deleteRegistryRecords(store, app, release.id);
    }
  }
  const objects = await collectObjects(store, app, referenced, { graceMs: o.graceMs ?? PACK_GRACE_MS, dryRun: o.dryRun });
  return { removed: removed.map((r) => ({ id: r.id, version: r.version })), kept, objects };
}

export interface MigrateResult {
  migrated: Array<{ id: string; version: string; addedBytes: number }>;
  alreadyObjects: number;
}

/**
 * Moves every release stored as one archive to content objects: the archive is unpacked
 * and verified against its manifest, its contents put as objects, and only then the
 * archive deleted. Safe to run again after an interruption: a release whose archive is
 * still there is moved again, and contents already stored are not sent twice.
 */
export async function migrateStoreToObjects(store: BlobStore, app: string, o: { dryRun?: boolean; onRelease?: (version: string) => void } = {}): Promise<MigrateResult> {
  const result: MigrateResult = { migrated: [], alreadyObjects: 0 };
  const index = await loadObjectIndex(store, app);
  for (const release of await listReleases(store, app)) {
    if (!(await hasLegacyArchive(store, app, release.id))) {
      result.alreadyObjects += 1;
      continue;
    }
    o.onRelease?.(release.version);
    if (o.dryRun) {
      result.migrated.push({ id: release.id, version: release.version, addedBytes: 0 });
      continue;
    }
    const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-migrate-'));
    try {
      const { manifestBytes, manifest } = await readCheckedReleaseManifest(store, app, release.id);
      const content = await fetchReleaseContent({ from: store, app, id: release.id, manifest, dir: workDir });
      const put = await putRelease(store, { app, id: release.id, manifestBytes, signatureBytes: await readReleaseSignature(store, app, release.id), content, index });
      await deleteLegacyArchive(store, app, release.id);
      result.migrated.push({ id: release.id, version: release.version, addedBytes: put.addedBytes });
    } finally {
      await fs.rm(workDir, { recursive: true, force: true });
    }
  }
  return result;
}
