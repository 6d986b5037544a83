/**
 * An accessory's environment: its literal `env` from slipway.yml, plus its `secrets`, whose
 * values come from the environment's host env file (shared/.env, written by `slipway config
 * <env> set NAME`) and never from slipway.yml. Each secret value is registered for redaction
 * before anything could print it.
 */
import type { AccessoryConfig } from '../config/types.js';
import { SlipwayError, registerSecret } from '../errors.js';
import { readEnvFile } from '../host/app-env.js';

export async function accessoryEnvironment(o: { accessory: AccessoryConfig; environment: string; envFile: string }): Promise<Record<string, string>> {
  const { accessory } = o;
  const env: Record<string, string> = { ...accessory.env };
  if (accessory.secrets.length === 0) return env;
  const values = await readEnvFile(o.envFile);
  const missing: string[] = [];
  for (const name of accessory.secrets) {
    const value = values[name];
    if (value === undefined || value === '') {
      missing.push(name);
      continue;
    }
    registerSecret(value);
    env[name] = value;
  }
  if (missing.length > 0) {
    const names = missing.join(', ');
    throw new SlipwayError(
      'ACCESSORY_SECRET_MISSING',
      `the accessory ${accessory.name} needs ${names} from the host env file ${o.envFile}, which does not set ${missing.length === 1 ? 'it' : 'them'}; nothing was created`,
      {
        hint: `set ${missing.length === 1 ? 'it' : 'each'} without putting the value in your shell history: ${missing.map((name) => `\`slipway config ${o.environment} set ${name}\``).join(', ')} (type the value, or pipe it in)`,
        exitCode: 2,
      },
    );
  }
  return env;
}
