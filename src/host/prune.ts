import { readCurrent } from './current-link.js';
import { readInstalledManifest, removeInstalledRelease } from './install-release.js';
import { collectHostObjects, objectPath } from './objects.js';
import type { HostLayout } from './layout.js';
import type { Ledger } from './ledger.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { pruneReleaseImages } from './prune-images.js';

/** The kept (stopped) containers of removed releases. Best effort, like the images: never fails the update that prunes. */
async function removeContainersOf(releases: { id: string; manifest: ReleaseManifest }[], environment: string): Promise<void> {
  const withContainers = releases.filter((r) => r.manifest.runtime.services.some((s) => s.image !== undefined));
  if (withContainers.length === 0) return;
  const { removeReleaseContainers } = await import('../runtime/container-cleanup.js');
  for (const { id, manifest } of withContainers) await removeReleaseContainers({ app: manifest.app, environment, releaseId: id }).catch(() => 0);
}

/**
 * Keeps the newest `keep` releases on disk (by when they were unpacked) and never
 * removes the current or previous one, whatever `keep` says. The contents only the
 * removed releases held are removed with them; `sweepObjects` looks at every object
 * of the host instead (what an install cut short by a crash left), which costs a look
 * at each of them.
 */
export async function pruneReleases(o: {
  layout: HostLayout;
  ledger: Ledger;
  keep: number;
  dryRun?: boolean;
  sweepObjects?: boolean;
  /** the environment's name: the stopped containers of removed releases (labelled with it) go with them */
  environment?: string;
}): Promise<{ id: string; version: string }[]> {
  const state = o.ledger.getState();
  const linked = await readCurrent(o.layout).catch(() => null);
  const protectedIds = new Set([state.currentId, state.previousId, linked].filter((id): id is string => Boolean(id)));
  const releases = o.ledger.listReleases().sort((a, b) => b.unpackedAt.localeCompare(a.unpackedAt));
  const removable = releases.slice(Math.max(0, o.keep)).filter((r) => !protectedIds.has(r.id));
  if (!o.dryRun) {
    const candidates = new Set<string>();
    const removedManifests: ReleaseManifest[] = [];
    const removedReleases: { id: string; manifest: ReleaseManifest }[] = [];
    for (const release of removable) {
      const manifest = await readInstalledManifest(o.layout, release.id).catch(() => null);
      for (const file of manifest?.files ?? []) candidates.add(objectPath(o.layout, file.sha256, file.mode));
      if (manifest) {
        removedManifests.push(manifest);
        removedReleases.push({ id: release.id, manifest });
      }
      await removeInstalledRelease(o.layout, o.ledger, release.id);
    }
    // Their container images go too, unless a kept release runs them. Best effort: an engine that
    // does not answer leaves the images, and never fails the update that prunes.
    const removedIds = new Set(removable.map((r) => r.id));
    const kept = async () => {
      const manifests: ReleaseManifest[] = [];
      for (const release of releases) {
        if (removedIds.has(release.id)) continue;
        const manifest = await readInstalledManifest(o.layout, release.id).catch(() => null);
        if (manifest) manifests.push(manifest);
      }
      return manifests;
    };
    // Their stopped containers first: an image a container still uses is kept by the engine.
    if (o.environment !== undefined) await removeContainersOf(removedReleases, o.environment);
    await pruneReleaseImages({ removed: removedManifests, kept }).catch(() => undefined);
    // Contents only the removed releases had are now linked from nowhere: free their space.
    if (o.sweepObjects) await collectHostObjects(o.layout);
    // Under the host's lock no install is under way, and these were unlinked just now: no grace.
    else if (candidates.size > 0) await collectHostObjects(o.layout, { only: candidates, graceMs: 0 });
  }
  return removable.map((r) => ({ id: r.id, version: r.version }));
}
