import path from 'node:path';
import { createLocalStore } from '../store/local-store.js';
import { defaultLocalStorePath } from '../store/open-store.js';
import type { BlobStore } from '../store/blob-store.js';
import { loadProject } from '../config/load.js';
import type { CliContext } from './context.js';

/** The store named by --store, or the embedded default local folder. */
export function openCliStore(storeOption: string | undefined, ctx: CliContext): BlobStore {
  return createLocalStore(storeOption ? path.resolve(ctx.cwd, storeOption) : defaultLocalStorePath());
}

export interface StoreCommandOptions {
  args: string[];
  env?: string;
  store?: string;
  dryRun?: boolean;
  json?: boolean;
  config?: string;
}

/** The store of `--env` (local folder or S3), else the local folder of `--store` or $SLIPWAY_HOME/store. */
export async function openTargetStore(options: StoreCommandOptions, ctx: CliContext): Promise<{ store: BlobStore; app: string }> {
  if (options.env) {
    const { openEnvironmentStore } = await import('./channel.js');
    const opened = await openEnvironmentStore({ config: options.config, env: options.env }, ctx);
    return { store: opened.store, app: opened.project.config.app };
  }
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  return { store: openCliStore(options.store, ctx), app: project.config.app };
}
