import { installRelease, isReleaseInstalled, readInstalledManifest, removeInstalledRelease, type InstallResult } from '../../host/install-release.js';
import { installReleaseImages, releaseImages, type ImageInstall } from '../../host/install-image.js';
import { collectHostObjects, objectPath } from '../../host/objects.js';
import type { ReleaseManifest } from '../../release/manifest.js';
import type { UpdateContext, UpdateStep } from '../context.js';
import { formatBytes } from '../../util/format.js';
import { promises as fs } from 'node:fs';
import { releaseDir } from '../../host/layout.js';
import { plural } from '../../plan/plan.js';
import { filesBytes } from '../../release/manifest-size.js';

/**
 * Step 2: the release on disk: digest and signature verified, the contents it lacks fetched and checked, its folder made
 * of hard links; and its container images in the engine, the layers the engine lacks fetched from the store and checked.
 */
export const fetchStep: UpdateStep = {
  name: 'fetch',
  leavesNothingToUndo: true,
  describe: ({ input: { target } }) => ({
    step: 'fetch',
    runs: true,
    what: `get ${target.version} from the store, verify its digest (${plural(target.files.length, 'file')}, ${formatBytes(filesBytes(target.files))})${describeImagesToGet(target)}`,
  }),
  async run(ctx) {
    // The agent runs this release (warm in standby) and lent its manifest, checked when the slot started:
    // reading a large release's manifest again would cost more than the whole rollback.
    if (ctx.to.manifest && (await fs.stat(releaseDir(ctx.layout, ctx.to.id)).then((s) => s.isDirectory(), () => false))) {
      return { outcome: 'done', detail: joinDetail('already on this host, running', await installImages(ctx, ctx.to.manifest)) };
    }
    if (await isReleaseInstalled(ctx.layout, ctx.to.id)) {
      ctx.to.manifest = (await readInstalledManifest(ctx.layout, ctx.to.id))!;
      return { outcome: 'done', detail: joinDetail('already on this host', await installImages(ctx, ctx.to.manifest)) };
    }
    const installed = await installRelease({
      layout: ctx.layout,
      ledger: ctx.ledger,
      store: ctx.store,
      app: ctx.app,
      id: ctx.to.id,
      signatures: ctx.signatures,
    });
    let images: string | null;
    try {
      images = await installImages(ctx, installed.manifest);
    } catch (error) {
      // An image that cannot be had refuses the release: the folder just made goes again, so nothing changed.
      await forgetRelease(ctx, installed.manifest);
      throw error;
    }
    ctx.to.manifest = installed.manifest;
    return { outcome: 'done', detail: joinDetail(describeInstall(installed), images) };
  },
  // The release stays on disk: it is immutable and harmless, and a retry reuses it.
  async isDone(ctx) {
    return isReleaseInstalled(ctx.layout, ctx.to.id);
  },
};

/** The release's images into the engine; a phrase for the step's line, or null when it runs no container. */
async function installImages(ctx: UpdateContext, manifest: ReleaseManifest): Promise<string | null> {
  const installed = await installReleaseImages({ store: ctx.store, app: ctx.app, releaseId: ctx.to.id, manifest, ...(ctx.environment?.registry ? { registry: ctx.environment.registry } : {}) });
  return installed.length === 0 ? null : installed.map(describeImage).join('; ');
}

/** Takes back a release this step installed, with the host objects only it had. */
async function forgetRelease(ctx: UpdateContext, manifest: ReleaseManifest): Promise<void> {
  await removeInstalledRelease(ctx.layout, ctx.ledger, ctx.to.id);
  const candidates = new Set(manifest.files.map((file) => objectPath(ctx.layout, file.sha256, file.mode)));
  if (candidates.size > 0) await collectHostObjects(ctx.layout, { only: candidates, graceMs: 0 });
}

/** "; the image of web (3 layers, 105 MiB) unless the engine has it", or nothing for a release without containers */
function describeImagesToGet(target: ReleaseManifest): string {
  const size = (layers: readonly { size: number }[]) => `${plural(layers.length, 'layer')}, ${formatBytes(layers.reduce((sum, l) => sum + l.size, 0))}`;
  const parts = [
    ...[...releaseImages(target).values()].map(({ image, services }) => `the image of ${services.join(', ')} (${size(image.layers)})`),
    // Loaded for the accessory, never started: upgrading one stays `accessory upgrade`.
    ...(target.runtime.accessoryImages ?? []).map((a) => `the image of accessory ${a.name} (${size(a.layers)}, not started)`),
  ];
  return parts.length === 0 ? '' : `; ${parts.join(', ')} unless the engine has it, the layers it lacks`;
}

function joinDetail(first: string, images: string | null): string {
  return images === null ? first : `${first}; ${images}`;
}

/** "image of web loaded: 1 of 3 layer(s) fetched (2.5 KiB)" or "image of web already in the engine"; an accessory's: "image of accessory db loaded: …, named postgres:16" */
function describeImage(image: ImageInstall): string {
  const of = image.accessory ? `image of accessory ${image.accessory.name}` : `image of ${image.services.join(', ')}`;
  const named = !image.accessory
    ? ''
    : image.accessory.tag === 'taken'
      ? `; ${image.accessory.reference} names another image here (${image.accessory.otherId?.slice(0, 19)}): left as it is`
      : image.accessory.tag === 'tagged' ? `, named ${image.accessory.reference}` : '';
  if (image.how === 'skipped') return `${of} not loaded${named}`;
  if (image.how === 'present') return `${of} already in the engine${named}`;
  if (image.how === 'pulled') return `${of} pulled by digest: ${image.fetchedLayers} of ${image.layers} layer(s) (${formatBytes(image.fetchedBytes)})`;
  return `${of} loaded: ${image.fetchedLayers} of ${image.layers} layer(s) fetched (${formatBytes(image.fetchedBytes)})${named}`;
}

/** "22 file(s) and 1 link(s) verified; 2 new content(s) fetched (1.2 KiB); 20 file(s) already on this host, linked" */
function describeInstall(r: InstallResult): string {
  const files = r.manifest.files.length;
  const links = r.manifest.links?.length ?? 0;
  const parts = [`${files} file(s)${links > 0 ? ` and ${links} link(s)` : ''} verified`];
  parts.push(`${r.fetchedObjects} new content(s) fetched (${formatBytes(r.fetchedBytes)})`);
  if (r.reusedFiles > 0) parts.push(`${r.reusedFiles} file(s) already on this host, linked`);
  if (r.preparedFrom) parts.push(`folder made from ${r.preparedFrom}'s prepared copy`);
  return parts.join('; ');
}
