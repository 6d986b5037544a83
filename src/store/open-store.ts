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

/**
 * Opens the store an environment (or the build) uses. Heavy SDKs load only here, only when needed.
 * `env` supplies credentials for remote stores (default: this process's environment).
 */
export async function openStore(config: StoreConfig, projectDir = process.cwd(), env: NodeJS.ProcessEnv = process.env): Promise<BlobStore> {
  if (config.type === 'local') {
    return createLocalStore(config.path ? path.resolve(projectDir, config.path) : defaultLocalStorePath());
  }
  if (config.type === 's3') {
    const { createS3Store } = await import('./s3-store.js');
    return createS3Store(config, env);
  }
  throw new SlipwayError('STORE_UNSUPPORTED', `the ${(config as { type: string }).type} store is not available in this version of slipway`, {
    exitCode: 2,
    hint: 'use `store: local` or an s3 store',
  });
}
