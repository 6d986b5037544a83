import os from 'node:os';
import path from 'node:path';

/** Root for everything slipway keeps on this machine (local store, local hosts, keys). */
export function slipwayHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SLIPWAY_HOME;
  return path.resolve(fromEnv && fromEnv.length > 0 ? fromEnv : path.join(os.homedir(), '.slipway'));
}
