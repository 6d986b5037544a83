import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { slipwayHome } from '../paths.js';
import type { StoreConfig } from '../config/types.js';
import type { BlobStore } from './blob-store.js';
import { createLocalStore } from './local-store.js';

/** The embedded default store: a local folder under SLIPWAY_HOME. */
export function defaultLocalStorePath(): string {
  return path.join(slipwayHome(), 'store');
}

/** Opens the store an environment (or the build) uses. Heavy SDKs load only here, only when needed. */
export async function openStore(config: StoreConfig, projectDir = process.cwd()): Promise<BlobStore> {
  if (config.type === 'local') {
    return createLocalStore(config.path ? path.resolve(projectDir, config.path) : defaultLocalStorePath());
  }
  throw new SlipwayError('STORE_UNSUPPORTED', `the ${config.type} store is not available in this version of slipway`, {
    exitCode: 2,
    hint: 'use `store: local` for now',
  });
}
