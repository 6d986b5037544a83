/** What `build` and `publish` share once a release is built: storing it with progress, and describing it. */
import type { BuiltRelease } from '../release/build.js';
import { shortId } from '../release/manifest.js';
import type { BlobStore } from '../store/blob-store.js';
import { putBuiltRelease, type PublishedRelease } from '../store/releases.js';
import type { CliContext } from './context.js';
import { formatBytes } from '../util/format.js';
import { phaseProgress } from './progress.js';
import { filesBytes } from '../release/manifest-size.js';

/** Puts a built release into the store, with progress for packing and sending what the store lacks. */
export async function storeBuiltRelease(ctx: CliContext, store: BlobStore, app: string, built: BuiltRelease): Promise<PublishedRelease> {
  const packing = phaseProgress(ctx, 'packing new contents', 'bytes');
  const uploading = phaseProgress(ctx, `sending to ${store.description}`, 'bytes');
  return putBuiltRelease(store, app, built, (phase, done, total) => (phase === 'pack' ? packing : uploading)(done, total));
}

/** The lines `build` and `publish` print about a release they just built and stored. */
export function describeBuilt(built: BuiltRelease, stored: PublishedRelease, store: BlobStore): string[] {
  const links = built.manifest.links ?? [];
  const bytes = filesBytes(built.manifest.files);
  const lines = [
    `built ${built.manifest.app} ${built.manifest.version} (${shortId(built.id)})`,
    `  commit   ${built.manifest.commit}`,
    `  files    ${built.manifest.files.length} (${formatBytes(bytes)})${links.length > 0 ? `, links ${links.length}` : ''}`,
    `  stored   ${formatBytes(stored.addedBytes)} new in ${stored.addedObjects} content object(s); the release takes ${formatBytes(stored.info.size)} in the store`,
    `  time     build commands ${(built.timings.commandsMs / 1000).toFixed(1)} s, hashing ${(built.timings.hashMs / 1000).toFixed(1)} s`,
    `  signed   ${stored.info.signed ? 'yes' : 'no'}`,
    `  store    ${store.description}`,
    `  id       ${built.id}`,
  ];
  if (built.externalLinks.length > 0) {
    lines.push(`  the host must provide what these links point at (outside the release):`);
    for (const link of built.externalLinks.slice(0, 20)) lines.push(`    ${link.path} -> ${link.target}`);
    if (built.externalLinks.length > 20) lines.push(`    … and ${built.externalLinks.length - 20} more`);
  }
  return lines;
}
