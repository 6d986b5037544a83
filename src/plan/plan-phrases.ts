/** Phrases the steps' descriptions (src/update/steps/) share: counts, the data a release declares, durations. */
import type { PlannedRelease } from './plan-types.js';

/** "1 database and 2 folders": the data a release declares, in words. */
export function dataParts(release: PlannedRelease): string[] {
  const data = release.runtime.data;
  return [data.databases.length > 0 ? plural(data.databases.length, 'database') : '', data.folders.length > 0 ? plural(data.folders.length, 'folder') : ''].filter(Boolean);
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
