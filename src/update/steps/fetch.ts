import { installRelease, isReleaseInstalled, readInstalledManifest, type InstallResult } from '../../host/install-release.js';
import type { UpdateStep } from '../context.js';
import { formatBytes } from '../../util/format.js';
import { promises as fs } from 'node:fs';
import { releaseDir } from '../../host/layout.js';
import { plural } from '../../plan/plan.js';

/** Step 2: the release on disk: digest and signature verified, the contents it lacks fetched and checked, its folder made of hard links. */
export const fetchStep: UpdateStep = {
  name: 'fetch',
  describe: ({ input: { target } }) => ({
    step: 'fetch',
    runs: true,
    what: `get ${target.version} from the store, verify its digest (${plural(target.files.length, 'file')}, ${formatBytes(target.files.reduce((sum, f) => sum + f.size, 0))})`,
  }),
  async run(ctx) {
    // The agent runs this release (warm in standby) and lent its manifest, checked when the slot started:
    // reading a large release's manifest again would cost more than the whole rollback.
    if (ctx.to.manifest && (await fs.stat(releaseDir(ctx.layout, ctx.to.id)).then((s) => s.isDirectory(), () => false))) {
      return { outcome: 'done', detail: 'already on this host, running' };
    }
    if (await isReleaseInstalled(ctx.layout, ctx.to.id)) {
      ctx.to.manifest = (await readInstalledManifest(ctx.layout, ctx.to.id))!;
      return { outcome: 'done', detail: 'already on this host' };
    }
    const installed = await installRelease({
      layout: ctx.layout,
      ledger: ctx.ledger,
      store: ctx.store,
      app: ctx.app,
      id: ctx.to.id,
      signatures: ctx.signatures,
    });
    ctx.to.manifest = installed.manifest;
    return { outcome: 'done', detail: describeInstall(installed) };
  },
  // The release stays on disk: it is immutable and harmless, and a retry reuses it.
  async isDone(ctx) {
    return isReleaseInstalled(ctx.layout, ctx.to.id);
  },
};

/** "22 file(s) and 1 link(s) verified; 2 new content(s) fetched (1.2 KiB); 20 file(s) already on this host, linked" */
function describeInstall(r: InstallResult): string {
  const files = r.manifest.files.length;
  const links = r.manifest.links?.length ?? 0;
  const parts = [`${files} file(s)${links > 0 ? ` and ${links} link(s)` : ''} verified`];
  parts.push(`${r.fetchedObjects} new content(s) fetched (${formatBytes(r.fetchedBytes)})`);
  if (r.reusedFiles > 0) parts.push(`${r.reusedFiles} file(s) already on this host, linked`);
  return parts.join('; ');
}
