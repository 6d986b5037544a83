import { promises as fs } from 'node:fs';
import { SlipwayError, registerSecret } from '../errors.js';
import type { ConfigKeyConfig, EnvironmentConfig } from '../config/types.js';
import { INHERITED_FROM_AGENT, isInheritedFromAgent } from '../runtime/inherited-env.js';

// Where the allow-list lives (the runtime uses it too); re-exported for the host's readers.
export { INHERITED_FROM_AGENT, isInheritedFromAgent };

/**
 * Reads the host's env file (shared/.env): KEY=VALUE lines, # comments. It holds
 * the app's config values and secrets, so it must be private to its owner.
 */
export async function readEnvFile(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    const stat = await fs.stat(file);
    // A folder or a FIFO would fail with a raw EISDIR, or block the read forever.
    if (!stat.isFile()) {
      throw new SlipwayError('ENV_FILE_UNREADABLE', `${file} is not a regular file`, { hint: 'it must be a file of KEY=VALUE lines with mode 600; replace it' });
    }
    if ((stat.mode & 0o077) !== 0) {
      throw new SlipwayError('ENV_FILE_PERMISSIONS', `${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)})`, {
        hint: `it holds secrets: run \`chmod 600 ${file}\``,
      });
    }
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return {};
    throw new SlipwayError('ENV_FILE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
      hint: 'run slipway as the user that owns the host folder',
      cause: error,
    });
  }
  const values: Record<string, string> = {};
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    // spawn refuses NUL in the environment, quoting the value (a secret) in its error
    if (line.includes('\0')) {
      throw new SlipwayError('ENV_FILE_INVALID', `${file}:${index + 1}: contains a NUL byte`, { hint: 'fix or remove that line' });
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      throw new SlipwayError('ENV_FILE_INVALID', `${file}:${index + 1}: expected KEY=VALUE`, { hint: 'fix or remove that line' });
    }
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) {
      value = value.slice(1, -1);
    }
    values[line.slice(0, eq).trim()] = value;
  });
  return values;
}

/** The parts of an environment's config that name slipway's own secrets. */
export type SecretSources = Pick<EnvironmentConfig, 'management' | 'backupKeyEnv' | 'store'> & Partial<Pick<EnvironmentConfig, 'registry' | 'offsiteStore'>>;

/** The credentials an S3 store's client reads from the agent's environment (store/s3-store.ts). */
const S3_CREDENTIALS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

/** What the app's processes do not get: see withheldFromApp. */
export interface Withheld {
  /** a variable of the agent's (or, for `slipway exec`, the CLI's) environment */
  agentEnv(name: string): boolean;
  /** a line of shared/.env; `declared`: the release names it under `config` */
  envFileLine(name: string, declared: boolean): boolean;
}

/**
 * slipway's own secrets, kept from the app's processes (services, the migration, hooks,
 * `slipway exec`) even where a name would otherwise pass (serviceEnvironment passes only a
 * short allow-list of the agent's environment, and the keys a release declares). Secrets
 * never leak (promise 5): the app, and anything it runs, can read its whole environment
 * (/proc/<pid>/environ), so slipway's own secrets must never be in it. They are the variables named by
 * `management.secret_env` and `backup_key_env`, and the S3 credentials of the store.
 *
 * - From the agent's environment such a name is never passed, not even for a key the
 *   release declares under `config`: there, the value is slipway's (nor are
 *   slipway's SLIPWAY_TEST_* switches).
 * - From shared/.env, the app's own file, a line is passed unless slipway reads its own
 *   secret from there too: the backup key (agent/host-backups.ts). A release that
 *   declares that name under `config` claims the line, and gets it.
 */
export function withheldFromApp(secrets: SecretSources): Withheld {
  const own = new Set<string>();
  if (secrets.management) own.add(secrets.management.secretEnv);
  if (secrets.backupKeyEnv !== undefined) own.add(secrets.backupKeyEnv);
  if (secrets.registry?.usernameEnv !== undefined) own.add(secrets.registry.usernameEnv);
  if (secrets.registry?.passwordEnv !== undefined) own.add(secrets.registry.passwordEnv);
  // An S3 off-site store (a host driven over SSH: its store is a folder) reads the same credentials.
  if (secrets.store.type === 's3' || secrets.offsiteStore?.type === 's3') for (const name of S3_CREDENTIALS) own.add(name);
  return {
    agentEnv: (name) => own.has(name) || name.startsWith('SLIPWAY_TEST_'),
    envFileLine: (name, declared) => !declared && name === secrets.backupKeyEnv,
  };
}

/**
 * The config values a release runs with: its schema's defaults, then the host's
 * env file, then the agent's own environment for keys the schema names (never
 * for a name withheldFromApp keeps from the app).
 * Secret values are registered for redaction before anything can log them.
 */
export function resolveAppConfig(options: {
  schema: ConfigKeyConfig[];
  envFile: Record<string, string>;
  processEnv: NodeJS.ProcessEnv;
  /** the environment's config naming slipway's own secrets */
  secrets: SecretSources;
}): { values: Record<string, string>; missing: string[] } {
  const withheld = withheldFromApp(options.secrets);
  const declared = new Set(options.schema.map((key) => key.name));
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.envFile)) {
    if (!withheld.envFileLine(name, declared.has(name))) values[name] = value;
  }
  const missing: string[] = [];
  for (const key of options.schema) {
    const fromAgent = withheld.agentEnv(key.name) ? undefined : options.processEnv[key.name];
    const value = options.envFile[key.name] ?? fromAgent ?? key.default;
    if (value === undefined) {
      if (key.required) missing.push(key.name);
      continue;
    }
    values[key.name] = value;
    if (key.secret) registerSecret(value);
  }
  return { values, missing: missing.sort() };
}


/**
 * The environment of one of the app's processes (services, the migration, hooks,
 * `slipway exec`), later entries winning:
 * 1. from the agent's environment, only INHERITED_FROM_AGENT (never a name withheldFromApp keeps);
 * 2. the app's config from resolveAppConfig: every usable line of shared/.env, and the keys the
 *    release declares under `config` (whose value may come from the agent's environment: the
 *    project file named them);
 * 3. the service's own `env` from slipway.yml;
 * 4. slipway's variables (`extra`: the port variable, SLIPWAY_*).
 * Nothing else of the agent's environment reaches the app.
 */
export function serviceEnvironment(options: {
  processEnv: NodeJS.ProcessEnv;
  /** the environment's config naming slipway's own secrets */
  secrets: SecretSources;
  appConfig: Record<string, string>;
  serviceEnv: Record<string, string>;
  extra: Record<string, string>;
}): Record<string, string> {
  const withheld = withheldFromApp(options.secrets);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.processEnv)) {
    if (value !== undefined && isInheritedFromAgent(key) && !withheld.agentEnv(key)) env[key] = value;
  }
  return { ...env, ...options.appConfig, ...options.serviceEnv, ...options.extra };
}
