/**
 * The registry digests a publish got, kept beside the release in the store
 * (`<app>/registry/<release id>/<repository hash>.json`): an address only, unsigned. A host pulls
 * `<repository>@<digest>` and refuses the image unless its id is the manifest's, so a wrong or
 * tampered record can only make a deploy refuse, never run other bytes.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RegistryRecord } from '../container/registry.js';
import type { BlobStore } from './blob-store.js';

const recordSchema = z.strictObject({
  repository: z.string(),
  images: z.record(z.string().regex(/^sha256:[0-9a-f]{64}$/), z.string().regex(/^sha256:[0-9a-f]{64}$/)),
});


function recordKey(app: string, releaseId: string, repository: string): string {
  const hash = createHash('sha256').update(repository).digest('hex').slice(0, 16);
  return `${app}/registry/${releaseId}/${hash}.json`;
}

/** The digests published for a release to a repository, or null when it was never pushed there (or the record is not slipway's). */
export async function readRegistryRecord(store: BlobStore, app: string, releaseId: string, repository: string): Promise<RegistryRecord | null> {
  const body = await store.get(recordKey(app, releaseId, repository), { maxBytes: 64 * 1024 });
  if (body === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  const record = recordSchema.safeParse(parsed);
  return record.success && record.data.repository === repository ? record.data : null;
}

export async function writeRegistryRecord(store: BlobStore, app: string, releaseId: string, record: RegistryRecord): Promise<void> {
  await store.put(recordKey(app, releaseId, record.repository), `${JSON.stringify(record, null, 2)}\n`);
}


/** Removes every registry record of a release (store prune, once the release itself is gone): they would point at nothing. */
export async function deleteRegistryRecords(store: BlobStore, app: string, releaseId: string): Promise<number> {
  const keys = await store.list(`${app}/registry/${releaseId}/`);
  for (const key of keys) await store.delete(key);
  return keys.length;
}
