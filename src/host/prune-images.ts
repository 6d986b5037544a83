/**
 * The container images of releases a host prunes: removed from the engine when no kept
 * release runs them. slipway removes only its own tags (`slipway/<app>:…`); the engine
 * deletes an image with its last tag, so an image someone else also tagged (a base image
 * named in slipway.yml, say) stays, and so does one a container still uses.
 *
 * Accessories' images are loaded under their own references (`postgres:16`), never slipway's,
 * so they stay until their owner removes them, as a pulled one would. An image that is also an
 * accessory's (a service `image: redis:7` beside a redis accessory) is kept, tags and all, while a
 * kept release carries it for an accessory or an accessory's container (running or stopped) uses it.
 */
import { connectEngine, engineFailure, isNotFound, LABELS } from '../container/engine.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { imageRepository } from '../release/image-build.js';
import { releaseImages } from './install-image.js';

export interface PrunedImages {
  /** images the engine no longer holds */
  removed: string[];
  /** images of removed releases kept: a kept release runs them, another tag names them, or a container uses them */
  kept: Array<{ id: string; why: string }>;
}

/**
 * Removes slipway's tags from the images of the `removed` releases that no `kept` release
 * runs. `kept` is only read when a removed release has images (reading the manifests of a
 * large release costs). Never asks the engine when no removed release ran a container.
 */
export async function pruneReleaseImages(o: { removed: ReleaseManifest[]; kept: () => Promise<ReleaseManifest[]> }): Promise<PrunedImages> {
  const candidates = new Set<string>();
  for (const manifest of o.removed) for (const id of releaseImages(manifest).keys()) candidates.add(id);
  const result: PrunedImages = { removed: [], kept: [] };
  if (candidates.size === 0) return result;
  for (const manifest of await o.kept()) {
    for (const id of releaseImages(manifest).keys()) {
      if (candidates.delete(id)) result.kept.push({ id, why: `release ${manifest.version} runs it` });
    }
    for (const accessory of manifest.runtime.accessoryImages ?? []) {
      if (candidates.delete(accessory.id)) result.kept.push({ id: accessory.id, why: `release ${manifest.version} carries it for the accessory ${accessory.name}` });
    }
  }
  if (candidates.size === 0) return result;
  const engine = await connectEngine();
  try {
    for (const container of await engine.listContainers({ all: true, filters: { label: [`${LABELS.role}=accessory`] } })) {
      if (candidates.delete(container.ImageID)) result.kept.push({ id: container.ImageID, why: `the accessory container ${container.Names[0]?.replace(/^\//, '') ?? container.Id.slice(0, 12)} uses it` });
    }
  } catch (error) {
    throw engineFailure('listing the accessories\' containers', error);
  }
  if (candidates.size === 0) return result;
  const ours = `${imageRepository(o.removed[0]!.app)}:`;
  for (const id of candidates) {
    try {
      const tags = (await engine.getImage(id).inspect()).RepoTags ?? [];
      for (const tag of tags.filter((t) => t.startsWith(ours))) await engine.getImage(tag).remove();
      // Untagged now (or never tagged): removed unless a container uses it; tagged by someone else: kept.
      const others = tags.filter((t) => !t.startsWith(ours));
      if (others.length > 0) {
        result.kept.push({ id, why: `also tagged ${others[0]}` });
        continue;
      }
      if (await stillThere(id, engine)) await engine.getImage(id).remove();
      result.removed.push(id);
    } catch (error) {
      if (isNotFound(error)) {
        result.removed.push(id);
        continue;
      }
      if ((error as { statusCode?: number }).statusCode === 409) {
        result.kept.push({ id, why: 'a container uses it' });
        continue;
      }
      throw engineFailure(`removing image ${id.slice(0, 19)}`, error);
    }
  }
  return result;
}

async function stillThere(id: string, engine: Awaited<ReturnType<typeof connectEngine>>): Promise<boolean> {
  try {
    await engine.getImage(id).inspect();
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}
