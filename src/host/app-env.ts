import { promises as fs } from 'node:fs';
import { SlipwayError, registerSecret } from '../errors.js';
import type { ConfigKeyConfig } from '../config/types.js';

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

/**
 * The config values a release runs with: its schema's defaults, then the host's
 * env file, then the agent's own environment for keys the schema names.
 * Secret values are registered for redaction before anything can log them.
 */
export function resolveAppConfig(options: {
  schema: ConfigKeyConfig[];
  envFile: Record<string, string>;
  processEnv: NodeJS.ProcessEnv;
}): { values: Record<string, string>; missing: string[] } {
  const values: Record<string, string> = { ...options.envFile };
  const missing: string[] = [];
  for (const key of options.schema) {
    const value = options.envFile[key.name] ?? options.processEnv[key.name] ?? key.default;
    if (value === undefined) {
      if (key.required) missing.push(key.name);
      continue;
    }
    values[key.name] = value;
    if (key.secret) registerSecret(value);
  }
  return { values, missing: missing.sort() };
}

/** The environment of one service process. */
export function serviceEnvironment(options: {
  processEnv: NodeJS.ProcessEnv;
  appConfig: Record<string, string>;
  serviceEnv: Record<string, string>;
  extra: Record<string, string>;
}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.processEnv)) {
    // The agent's own test and control variables are not the app's business.
    if (value !== undefined && !key.startsWith('SLIPWAY_TEST_')) env[key] = value;
  }
  return { ...env, ...options.appConfig, ...options.serviceEnv, ...options.extra };
}
