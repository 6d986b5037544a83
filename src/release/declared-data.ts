import type { DataConfig } from '../config/types.js';

/** Whether a release declares any data (databases or folders) for slipway to back up. */
export function hasData(data: DataConfig): boolean {
  return data.databases.length + data.folders.length > 0;
}

/**
 * Why the release serving now needs no backup before it is replaced, or null when it has
 * data to save. The one test behind the update pipeline's backup step and a fleet's
 * "back up every host first" stage, so a stateless app (no `data:` section) is skipped the
 * same way on one host as on many, instead of one of them treating it as a failure.
 */
export function nothingToBackUp(serving: { manifest: { runtime: { data: DataConfig } } } | null): string | null {
  if (!serving) return 'nothing deployed yet: no data to back up';
  if (!hasData(serving.manifest.runtime.data)) return 'no databases or folders configured';
  return null;
}
