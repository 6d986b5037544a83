/** A release's contents read out of a store, to put them into another or send them. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { folderContentSource, treeContentSource, type ContentSource } from '../release/content-source.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { unpackRelease } from '../release/unpack.js';
import type { BlobStore } from './blob-store.js';
import { loadObjectIndex } from './objects.js';
import { readObjects } from './read-objects.js';
import { fetchLegacyArchive, hasLegacyArchive } from './releases.js';

/**
 * The contents of release `id` from `from`, except those `skip` says the caller has,
 * fetched into `dir` and checked: from its content objects, or, for a release
 * published as one archive before content objects, from its archive unpacked
 * (verified) into `dir`.
 */
export async function fetchReleaseContent(o: { from: BlobStore; app: string; id: string; manifest: ReleaseManifest; dir: string; skip?: (digest: string) => boolean }): Promise<ContentSource> {
  if (await hasLegacyArchive(o.from, o.app, o.id)) {
    const fetched = await fetchLegacyArchive(o.from, o.app, o.id, o.dir);
    const tree = path.join(o.dir, 'tree');
    await unpackRelease({ archivePath: fetched.archivePath, manifest: o.manifest, destDir: tree });
    await fs.rm(fetched.archivePath, { force: true });
    return treeContentSource(tree, o.manifest);
  }
  const objectsDir = path.join(o.dir, 'objects');
  await fs.mkdir(objectsDir, { recursive: true });
  const sizes = new Map<string, number>();
  for (const file of o.manifest.files) if (!o.skip?.(file.sha256)) sizes.set(file.sha256, file.size);
  if (sizes.size > 0) {
    const index = await loadObjectIndex(o.from, o.app);
    const wanted = [...sizes].map(([sha256, size]) => ({ sha256, size }));
    await readObjects(o.from, o.app, wanted, index, (digest, content) => fs.writeFile(path.join(objectsDir, digest), content));
  }
  return folderContentSource(objectsDir);
}
