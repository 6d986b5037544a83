import { readCurrent } from './current-link.js';
import { removeInstalledRelease } from './install-release.js';
import { collectHostObjects } from './objects.js';
import type { HostLayout } from './layout.js';
import type { Ledger } from './ledger.js';

/**
 * Keeps the newest `keep` releases on disk (by when they were unpacked) and never
 * removes the current or previous one, whatever `keep` says.
 */
export async function pruneReleases(o: { layout: HostLayout; ledger: Ledger; keep: number; dryRun?: boolean }): Promise<{ id: string; version: string }[]> {
  const state = o.ledger.getState();
  const linked = await readCurrent(o.layout).catch(() => null);
  const protectedIds = new Set([state.currentId, state.previousId, linked].filter((id): id is string => Boolean(id)));
  const releases = o.ledger.listReleases().sort((a, b) => b.unpackedAt.localeCompare(a.unpackedAt));
  const removable = releases.slice(Math.max(0, o.keep)).filter((r) => !protectedIds.has(r.id));
  if (!o.dryRun) {
    for (const release of removable) await removeInstalledRelease(o.layout, o.ledger, release.id);
    // Contents only the removed releases had are now linked from nowhere: free their space.
    await collectHostObjects(o.layout);
  }
  return removable.map((r) => ({ id: r.id, version: r.version }));
}
