import path from 'node:path';
import { createLocalStore } from '../store/local-store.js';
import { defaultLocalStorePath } from '../store/open-store.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CliContext } from './context.js';

/** The store named by --store, or the embedded default local folder. */
export function openCliStore(storeOption: string | undefined, ctx: CliContext): BlobStore {
  return createLocalStore(storeOption ? path.resolve(ctx.cwd, storeOption) : defaultLocalStorePath());
}
