import { installRelease, isReleaseInstalled, readInstalledManifest } from '../install-release.js';
import type { UpdateStep } from '../update-context.js';

/** Step 2: the release on disk, digest and signature verified, unpacked safely. */
export const fetchStep: UpdateStep = {
  name: 'fetch',
  async run(ctx) {
    if (await isReleaseInstalled(ctx.layout, ctx.to.id)) {
      ctx.to.manifest = (await readInstalledManifest(ctx.layout, ctx.to.id))!;
      return { outcome: 'done', detail: 'already on this host' };
    }
    ctx.to.manifest = await installRelease({
      layout: ctx.layout,
      ledger: ctx.ledger,
      store: ctx.store,
      app: ctx.app,
      id: ctx.to.id,
      signatures: ctx.signatures,
    });
    return { outcome: 'done', detail: `${ctx.to.manifest.files.length} files verified` };
  },
  // The release stays on disk: it is immutable and harmless, and a retry reuses it.
  async isDone(ctx) {
    return isReleaseInstalled(ctx.layout, ctx.to.id);
  },
};
