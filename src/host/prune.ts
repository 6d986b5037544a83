import { readCurrent } from './current-link.js';
import { readInstalledManifest, removeInstalledRelease } from './install-release.js';
import { collectHostObjects, objectPath } from './objects.js';
import type { HostLayout } from './layout.js';
import type { Ledger } from './ledger.js';

/**
 * Keeps the newest `keep` releases on disk (by when they were unpacked) and never
 * removes the current or previous one, whatever `keep` says. The contents only the
 * removed releases held are removed with them; `sweepObjects` looks at every object
 * of the host instead (what an install cut short by a crash left), which costs a look
 * at each of them.
 */
export async function pruneReleases(o: { layout: HostLayout; ledger: Ledger; keep: number; dryRun?: boolean; sweepObjects?: boolean }): Promise<{ id: string; version: string }[]> {
  const state = o.ledger.getState();
  const linked = await readCurrent(o.layout).catch(() => null);
  const protectedIds = new Set([state.currentId, state.previousId, linked].filter((id): id is string => Boolean(id)));
  const releases = o.ledger.listReleases().sort((a, b) => b.unpackedAt.localeCompare(a.unpackedAt));
  const removable = releases.slice(Math.max(0, o.keep)).filter((r) => !protectedIds.has(r.id));
  if (!o.dryRun) {
    const candidates = new Set<string>();
    for (const release of removable) {
      const manifest = await readInstalledManifest(o.layout, release.id).catch(() => null);
      for (const file of manifest?.files ?? []) candidates.add(objectPath(o.layout, file.sha256, file.mode));
      await removeInstalledRelease(o.layout, o.ledger, release.id);
    }
    // Contents only the removed releases had are now linked from nowhere: free their space.
    if (o.sweepObjects) await collectHostObjects(o.layout);
    // Under the host's lock no install is under way, and these were unlinked just now: no grace.
    else if (candidates.size > 0) await collectHostObjects(o.layout, { only: candidates, graceMs: 0 });
  }
  return removable.map((r) => ({ id: r.id, version: r.version }));
}
