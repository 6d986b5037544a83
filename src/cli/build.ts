import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadProject } from '../config/load.js';
import { buildRelease } from '../release/build.js';
import { readSigningKeyFile } from '../release/sign.js';
import { describeBuilt, storeBuiltRelease } from './built-release.js';
import { openCliStore } from './store-option.js';
import { phaseProgress } from './progress.js';
import type { CliContext, CommandResult } from './context.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BuiltRelease } from '../release/build.js';
import { loadObjectIndex, type ObjectIndex } from '../store/objects.js';
import { putBuiltImages } from '../store/image-objects.js';
import type { PutObjectsResult } from '../store/put-objects.js';
import type { LoadedProject } from '../config/types.js';
import { formatBytes } from '../util/format.js';
import { removeTemporaryFolder } from '../util/remove-later.js';

interface BuildOptions {
  ref: string;
  version?: string;
  allowDirty?: boolean;
  store?: string;
  key?: string;
  json?: boolean;
  config?: string;
}

export default async function build(options: BuildOptions, ctx: CliContext): Promise<CommandResult> {
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  for (const warning of project.warnings) ctx.progress(`warning: ${warning}`);
  const keyPath = options.key ? path.resolve(ctx.cwd, options.key) : project.config.signing.key ? path.resolve(project.dir, project.config.signing.key) : undefined;
  const signingKey = keyPath ? { privateKeyPem: await readSigningKeyFile(keyPath) } : undefined;
  const store = openCliStore(options.store, ctx);

  const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-build-'));
  let entries = 0;
  try {
    ctx.progress(`building ${project.config.app} at ${options.ref}`);
    const index = await storeIndexForImages(store, project);
    const built = await buildRelease({
      project,
      ref: options.ref,
      version: options.version,
      allowDirty: options.allowDirty,
      outDir,
      signingKey,
      onOutput: (line) => ctx.progress(`  | ${line}`),
      onHashProgress: phaseProgress(ctx, 'hashing', 'files'),
      knownObjects: knownObjectsOf(index),
    });
    entries = built.manifest.files.length;
    const images = await storeBuiltImages(ctx, store, project.config.app, built, index);
    const stored = await storeBuiltRelease(ctx, store, project.config.app, built);
    const result = { id: built.id, version: built.manifest.version, commit: built.manifest.commit };
    if (options.json) return { stdout: `${JSON.stringify(result, null, 2)}\n` };
    const lines = describeBuilt(built, stored, store);
    lines.splice(4, 0, ...describeImages(built, images));
    return { stdout: lines.join('\n') };
  } finally {
    await removeTemporaryFolder(outDir, entries);
  }
}

/**
 * The store's object index, when the project runs container services or has accessories
 * (their images travel too): the build then leaves out of its work the image layers the
 * store already holds. Null otherwise.
 */
export async function storeIndexForImages(store: BlobStore, project: LoadedProject): Promise<ObjectIndex | null> {
  const images = project.config.services.some((service) => service.container) || project.config.accessories.length > 0;
  return images ? loadObjectIndex(store, project.config.app) : null;
}

export function knownObjectsOf(index: ObjectIndex | null): ((sha256: string) => number | undefined) | undefined {
  return index ? (sha256) => index.get(sha256)?.size : undefined;
}

/** Puts a built release's image layers and configs into the store (only those it lacks), before the release itself. */
export async function storeBuiltImages(ctx: CliContext, store: BlobStore, app: string, built: BuiltRelease, index: ObjectIndex | null): Promise<PutObjectsResult> {
  const packing = phaseProgress(ctx, 'packing new image layers', 'bytes');
  const uploading = phaseProgress(ctx, `sending image layers to ${store.description}`, 'bytes');
  return putBuiltImages(store, app, built.images, { ...(index ? { index } : {}), onProgress: (phase, done, total) => (phase === 'pack' ? packing : uploading)(done, total) });
}

/** "  image    web sha256:1a2b3c4d5e6f (3 layers, 98.1 MiB)", the accessories' images, and what the store got. */
export function describeImages(built: BuiltRelease, put: PutObjectsResult): string[] {
  const lines: string[] = [];
  const describe = (who: string, image: { id: string; layers: Array<{ size: number }> }, source: string) =>
    `  image    ${who} ${image.id.slice(0, 19)} (${image.layers.length} layer(s), ${formatBytes(image.layers.reduce((sum, layer) => sum + layer.size, 0))}) from ${source}`;
  for (const service of built.manifest.runtime.services) {
    if (service.image) lines.push(describe(service.name, service.image, service.image.source));
  }
  // Carried, not run: a host loads it and names it by its reference; `slipway accessory start|upgrade` runs it.
  for (const accessory of built.manifest.runtime.accessoryImages ?? []) lines.push(describe(`accessory ${accessory.name}`, accessory, accessory.reference));
  if (lines.length > 0) lines.push(`  layers   ${formatBytes(put.addedBytes)} new in ${put.addedObjects} image object(s); the others were in the store`);
  return lines;
}
