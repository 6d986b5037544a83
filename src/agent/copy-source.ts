/**
 * Where a scheduled data copy finds the source environment's newest verified backup:
 * on this machine, the source host's own backups folder and ledger (read only: a copy
 * never writes to the source); on another server, its encrypted off-site copy in the
 * store, fetched into a folder of this host's own (never into this environment's
 * catalog, so its retention and `slipway backups` are unchanged).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { EnvironmentConfig, StoreConfig } from '../config/types.js';
import { SlipwayError } from '../errors.js';
import { backupKeyFromEnv, fetchOffsiteBackup, listOffsiteBackups, offsiteStoreConfig } from '../data/offsite.js';
import { readEnvFile } from '../host/app-env.js';
import { defaultHostRoot, hostLayout, type HostLayout } from '../host/layout.js';
import { openLedger } from '../host/ledger.js';
import { openStore } from '../store/open-store.js';
import type { BlobStore } from '../store/blob-store.js';

export interface SourceBackup {
  id: string;
  /** the folder restoreBackup reads (backup.json and the item files) */
  dir: string;
  createdAt: string;
}

/** The source's newest verified backup, made ready to read on this machine. */
export interface CopySource {
  /** e.g. "production on this machine", "production's off-site copies in s3://bucket" */
  description: string;
  newestVerified(): Promise<SourceBackup>;
}

function noVerifiedBackup(environment: string, where: string, hint?: string): SlipwayError {
  return new SlipwayError('NO_VERIFIED_BACKUP', `${environment} has no verified backup ${where} to copy from`, {
    hint: hint ?? `take one (\`slipway backup ${environment}\`, or a backup_schedule in ${environment}), then the next scheduled copy uses it`,
  });
}

/**
 * Why the source's off-site store may hold none of its backups: a folder store is on the
 * operator's machine, which the source's hosts cannot reach (remote/host-config.ts
 * hostOffsite); an S3 store gets them only from hosts with a backup key and off-site copies on.
 */
function offsiteHint(o: { source: string; target: string; store: StoreConfig }): string {
  if (o.store.type === 'local') {
    return (
      `${o.source} runs on another server and its store is a folder (${o.store.path ?? 'the default store'}) of the machine slipway is run from: ` +
      `${o.source}'s hosts cannot reach it, so its backups stay on their own disks. Give ${o.source} an S3 store (store:, or offsite_store: for its backups only) ` +
      `and backup_key_env, then run \`slipway setup ${o.source}\` and \`slipway setup ${o.target}\`: its hosts send their encrypted backups there, and this host reads them`
    );
  }
  return (
    `take one (\`slipway backup ${o.source}\`, or a backup_schedule in ${o.source}); ${o.source}'s hosts send each backup there, encrypted, when it has ` +
    `backup_key_env and offsite_backups is not false (after changing either, run \`slipway setup ${o.source}\`) and their agent's environment holds the S3 credentials`
  );
}

/** The source environment's host on this machine: its ledger's newest backup that passed a check. */
export function localCopySource(o: { environment: string; layout: HostLayout }): CopySource {
  return {
    description: `${o.environment} on this machine (${o.layout.root})`,
    async newestVerified() {
      const exists = await fs.stat(o.layout.ledgerFile).then(() => true, () => false);
      if (!exists) throw noVerifiedBackup(o.environment, `at ${o.layout.root}`);
      const ledger = openLedger(o.layout.ledgerFile, { readonly: true });
      try {
        const backup = ledger.listBackups({ environment: o.environment }).find((b) => b.verifiedAt !== null);
        if (!backup) throw noVerifiedBackup(o.environment, `at ${o.layout.root}`);
        return { id: backup.id, dir: path.join(o.layout.backupsDir, backup.id), createdAt: backup.createdAt };
      } finally {
        ledger.close();
      }
    },
  };
}

/**
 * The source's off-site copies in its store: the newest one whose backup had passed a
 * check, fetched (decrypted and checked, see fetchOffsiteBackup) into `into`, a host
 * layout of its own with its own small ledger. Older fetched copies are removed once
 * a newer one is in place: only one is kept.
 */
export function offsiteCopySource(o: { app: string; environment: string; store: BlobStore; key: () => Promise<Buffer>; into: HostLayout; hint?: string }): CopySource {
  return {
    description: `${o.environment}'s off-site copies in ${o.store.description}`,
    async newestVerified() {
      const copies = await listOffsiteBackups({ store: o.store, app: o.app, environment: o.environment });
      const newest = copies.find((c) => c.verifiedAt !== null);
      if (!newest) throw noVerifiedBackup(o.environment, `in ${o.store.description}`, o.hint);
      const key = await o.key();
      const ledger = openLedger(o.into.ledgerFile);
      try {
        await fetchOffsiteBackup({ layout: o.into, ledger, store: o.store, app: o.app, environment: o.environment, backupId: newest.id, key });
        for (const older of ledger.listBackups().filter((b) => b.id !== newest.id)) {
          await fs.rm(path.join(o.into.backupsDir, older.id), { recursive: true, force: true });
          ledger.removeBackup(older.id);
        }
      } finally {
        ledger.close();
      }
      return { id: newest.id, dir: path.join(o.into.backupsDir, newest.id), createdAt: newest.createdAt };
    },
  };
}

/**
 * Same machine when the source runs where the target does (both local, or the same
 * server): its host folder. Otherwise its off-site copies in its off-site store (where its
 * hosts write them: `offsite_store`, else `store`), decrypted with the key its
 * backup_key_env names, read from this host's env file or the agent's environment; the
 * store's S3 credentials come from the agent's environment.
 */
export function copySourceFor(o: {
  app: string;
  projectDir: string;
  source: EnvironmentConfig;
  target: EnvironmentConfig;
  /** this environment's host: its env file holds the source's backup key; fetched copies go under it */
  layout: HostLayout;
  processEnv: NodeJS.ProcessEnv;
}): CopySource {
  if (o.source.host === o.target.host) {
    return localCopySource({ environment: o.source.name, layout: hostLayout(o.source.root ?? defaultHostRoot(o.app, o.source.name)) });
  }
  const where = offsiteStoreConfig(o.source);
  let store: Promise<BlobStore> | null = null;
  const opened = () => (store ??= openStore(where, o.projectDir, o.processEnv));
  const into = hostLayout(path.join(o.layout.root, 'data-copies', o.source.name));
  return {
    description: `${o.source.name}'s off-site copies in ${where.type === 's3' ? `s3://${where.bucket}/${where.prefix ?? ''}` : `the folder ${where.path ?? '(the default store)'}`}`,
    async newestVerified() {
      const source = offsiteCopySource({
        app: o.app,
        environment: o.source.name,
        store: await opened(),
        into,
        hint: offsiteHint({ source: o.source.name, target: o.target.name, store: where }),
        key: async () => backupKeyFromEnv({ environment: o.source, env: { ...o.processEnv, ...(await readEnvFile(o.layout.envFile)) } }),
      });
      return source.newestVerified();
    },
  };
}
