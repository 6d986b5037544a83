/**
 * Object links left for later. A fresh install writes each file of its release once and leaves
 * linking it in as the host's object (objects.ts) for later: 50,000 links the deploy need not wait
 * for, since nothing needs them until the next install looks for contents the host has. A marker, manifests/<id>.objects-pending, says which installed releases still wait; the
 * watch step links them in while its health window runs, and any install does first.
 *
 * A file is linked in only while it is as the install made it (the inode, size and time its stat
 * snapshot recorded): a file changed on the host since never becomes the object of its content.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ReleaseManifest } from '../release/manifest.js';
import type { StatSnapshot } from '../release/verify-tree.js';
import { chunks } from './assemble-release.js';
import { startInstallWorkers } from './install-workers.js';
import { isValidReleaseId, releaseDir, type HostLayout } from './layout.js';
import { ensureObjectShards, listHostObjects, objectName, objectPath } from './objects.js';

const PENDING = '.objects-pending';

export function pendingObjectsMarker(layout: HostLayout, id: string): string {
  return path.join(layout.manifestsDir, `${id}${PENDING}`);
}

/** Marks an installed (or about to be) release as not linked in yet. */
export async function markObjectsPending(layout: HostLayout, id: string): Promise<void> {
  await fs.mkdir(layout.manifestsDir, { recursive: true });
  await fs.writeFile(pendingObjectsMarker(layout, id), '');
}

/**
 * Links the files of every release still marked in as the host's objects (the first file of each
 * content the host has no object for), then drops the marks. Answers how many releases it did.
 * Runs under the host's lock, like every install.
 */
export async function adoptPendingObjects(
  layout: HostLayout,
  read: { manifestOf: (id: string) => Promise<ReleaseManifest | null>; snapshotOf: (id: string) => Promise<StatSnapshot | null> },
): Promise<number> {
  const pending = (await fs.readdir(layout.manifestsDir).catch(() => [] as string[]))
    .filter((name) => name.endsWith(PENDING))
    .map((name) => name.slice(0, -PENDING.length))
    .filter(isValidReleaseId);
  if (pending.length === 0) return 0;
  ensureObjectShards(layout);
  const have = await listHostObjects(layout);
  const workers = startInstallWorkers();
  try {
    for (const id of pending) {
      const [manifest, snapshot] = await Promise.all([read.manifestOf(id), read.snapshotOf(id)]);
      // A release gone (pruned, or a crash before it was kept) or without a snapshot has nothing to give.
      if (manifest && snapshot && snapshot.length === manifest.files.length) {
        const root = releaseDir(layout, id);
        const entries: Array<[string, string, number, number, number]> = [];
        manifest.files.forEach((file, i) => {
          const name = objectName(file.sha256, file.mode);
          if (have.has(name)) return;
          have.add(name);
          const [ino, size, mtimeMs] = snapshot[i]!;
          entries.push([`${root}/${file.path}`, objectPath(layout, file.sha256, file.mode), ino, size, mtimeMs]);
        });
        await Promise.all(chunks(entries, workers.size * 8).map((batch) => workers.run({ op: 'adoptObjects', entries: batch })));
      }
      await fs.rm(pendingObjectsMarker(layout, id), { force: true });
    }
    return pending.length;
  } finally {
    await workers.close();
  }
}
