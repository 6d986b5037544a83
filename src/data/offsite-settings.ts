/** Whether an environment makes off-site copies, and the key it encrypts them with. */
import type { EnvironmentConfig } from '../config/types.js';
import { SlipwayError, registerSecret } from '../errors.js';
import { parseBackupKey } from './encryption.js';

/** Are off-site copies on for this environment (`offsite_backups`, default: on when backup_key_env is set)? */
export function offsiteEnabled(environment: EnvironmentConfig): boolean {
  return environment.offsiteBackups ?? environment.backupKeyEnv !== undefined;
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
