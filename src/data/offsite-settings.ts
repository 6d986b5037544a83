/** Whether an environment makes off-site copies, where they go, and the key it encrypts them with. */
import type { EnvironmentConfig, StoreConfig } from '../config/types.js';
import { SlipwayError, registerSecret } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { openStore } from '../store/open-store.js';
import { parseBackupKey } from './encryption.js';

/** Are off-site copies on for this environment (`offsite_backups`, default: on when backup_key_env is set)? */
export function offsiteEnabled(environment: EnvironmentConfig): boolean {
  return environment.offsiteBackups ?? environment.backupKeyEnv !== undefined;
}

/**
 * The store an environment's off-site copies go to (and are read from): `offsite_store`
 * when set (a host driven over SSH, whose releases come into a local folder store), else
 * its `store`. Every reader and writer of off-site copies asks here, so they meet.
 */
export function offsiteStoreConfig(environment: Pick<EnvironmentConfig, 'store' | 'offsiteStore'>): StoreConfig {
  return environment.offsiteStore ?? environment.store;
}

/**
 * Opens the off-site store; `store`, the environment's store already open, is reused when
 * they are the same. S3 credentials come from `env` (the agent's environment), never
 * from the project file.
 */
export async function openOffsiteStore(o: { environment: EnvironmentConfig; store: BlobStore; projectDir: string; env?: NodeJS.ProcessEnv }): Promise<BlobStore> {
  if (o.environment.offsiteStore === undefined) return o.store;
  return openStore(o.environment.offsiteStore, o.projectDir, o.env ?? process.env);
}

/**
 * The environment's backup key from `env` (the host's env file and the agent's
 * environment), registered for redaction. BACKUP_KEY_MISSING names the variable.
 */
export function backupKeyFromEnv(o: { environment: EnvironmentConfig; env: Readonly<Record<string, string | undefined>> }): Buffer {
  const name = o.environment.backupKeyEnv;
  if (name === undefined) {
    throw new SlipwayError('BACKUP_KEY_NOT_CONFIGURED', `Environment ${o.environment.name} has no backup encryption key configured.`, {
      hint: `Add backup_key_env: SLIPWAY_BACKUP_KEY under environments.${o.environment.name} in slipway.yml and put a key made with \`openssl rand -base64 32\` in that variable.`,
      exitCode: 2,
    });
  }
  const text = o.env[name];
  if (text === undefined || text.trim() === '') {
    throw new SlipwayError('BACKUP_KEY_MISSING', `${name}, which holds the backup encryption key of ${o.environment.name}, is not set.`, {
      hint: `Set ${name} in the host's env file (shared/.env) or the agent's environment (a key made with \`openssl rand -base64 32\`); keep a copy elsewhere: without it the off-site copies cannot be read.`,
      exitCode: 2,
    });
  }
  registerSecret(text);
  registerSecret(text.trim());
  try {
    return parseBackupKey(text);
  } catch (error) {
    const cause = error as SlipwayError;
    throw new SlipwayError(cause.code ?? 'BACKUP_KEY_INVALID', `${name}: ${cause.message}`, { hint: cause.hint, exitCode: 2, cause: error });
  }
}
