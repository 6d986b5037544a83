/**
 * Where off-site copies lie in the store, under <app>/backups/<env>/<id>/ (each file
 * as <file>.enc, and index.json), and what is done there by key: listing the complete
 * copies, removing one.
 */
import { SlipwayError } from '../errors.js';
import type { Ledger } from '../host/ledger.js';
import type { BlobStore } from '../store/blob-store.js';
import { invalidBackupId, isBackupId } from './backup-manifest.js';
import { OFFSITE_INDEX_FILE, readIndex, type OffsiteIndex } from './offsite-index.js';

export const ENCRYPTED_SUFFIX = '.enc';
const STORE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

export interface StoreTarget {
  store: BlobStore;
  app: string;
  environment: string;
}

/** `<app>/backups/<env>/` or, with an id, `<app>/backups/<env>/<id>/`. */
export function offsitePrefix(o: { app: string; environment: string; backupId?: string }): string {
  for (const [what, name] of [['app', o.app], ['environment', o.environment]] as const) {
    if (!STORE_NAME_PATTERN.test(name)) {
      throw new SlipwayError('STORE_BAD_KEY', `refusing the ${what} name "${name}" in a store key`, { hint: 'this is a bug in slipway; please report it' });
    }
  }
  const base = `${o.app}/backups/${o.environment}/`;
  if (o.backupId === undefined) return base;
  if (!isBackupId(o.backupId)) throw invalidBackupId(o.backupId);
  return `${base}${o.backupId}/`;
}

/** The complete off-site copies of an environment, newest first. Copies whose index.json is unreadable are left out. */
export async function listOffsiteBackups(o: StoreTarget): Promise<OffsiteIndex[]> {
  const base = offsitePrefix(o);
  let keys: string[];
  try {
    keys = await o.store.list(base);
  } catch (error) {
    throw storeFailed('OFFSITE_LIST_FAILED', o, error, 'listing the off-site backups');
  }
  const indexKeys = keys.filter((key) => {
    const rest = key.slice(base.length).split('/');
    return key.startsWith(base) && rest.length === 2 && rest[1] === OFFSITE_INDEX_FILE && isBackupId(rest[0]);
  });
  const entries: OffsiteIndex[] = [];
  for (const key of indexKeys) {
    try {
      const index = await readIndex(o.store, key);
      if (index && `${base}${index.id}/${OFFSITE_INDEX_FILE}` === key) entries.push(index);
    } catch (error) {
      if (!(error instanceof SlipwayError && error.code === 'BACKUP_CORRUPT')) throw storeFailed('OFFSITE_LIST_FAILED', o, error, 'listing the off-site backups');
    }
  }
  return entries.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Removes an off-site copy: index.json first (so it is no longer listed), then its files. */
export async function deleteOffsiteBackup(o: StoreTarget & { backupId: string; ledger?: Ledger }): Promise<void> {
  const prefix = offsitePrefix({ app: o.app, environment: o.environment, backupId: o.backupId });
  try {
    await o.store.delete(`${prefix}${OFFSITE_INDEX_FILE}`);
    for (const key of await o.store.list(prefix)) if (key.startsWith(prefix)) await o.store.delete(key);
  } catch (error) {
    throw storeFailed('OFFSITE_DELETE_FAILED', o, error, `deleting the off-site copy of backup ${o.backupId}`);
  }
  if (o.ledger?.getBackup(o.backupId)?.offsite) o.ledger.markBackupOffsite(o.backupId, null);
}

export function storeFailed(code: string, o: StoreTarget, error: unknown, doing: string): SlipwayError {
  const cause = error instanceof SlipwayError ? error : null;
  return new SlipwayError(code, `${doing[0].toUpperCase()}${doing.slice(1)} in ${o.store.description} failed: ${(error as Error)?.message ?? String(error)}`, {
    hint: cause?.hint ?? 'Check that the store is reachable (and its credentials), then try again.',
    details: cause?.details,
    cause: error,
  });
}
