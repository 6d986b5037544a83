/**
 * The checks of the environment's stores: slipway can list the releases in `store`, and
 * the off-site copies in `offsite_store` when the environment has one (that is where
 * backups leave the host, and where a staging elsewhere reads them).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { StoreConfig } from '../config/types.js';
import { defaultLocalStorePath, openStore } from '../store/open-store.js';
import { errorText, result, type DoctorCheck } from './check-result.js';

export async function checkStore(o: { store: StoreConfig; projectDir: string; app: string }): Promise<DoctorCheck> {
  return listingCheck({
    name: 'store',
    store: o.store,
    projectDir: o.projectDir,
    prefix: `${o.app}/releases`,
    count: (keys) => keys.filter((k) => k.endsWith('/info.json')).length,
    noun: 'release',
    empty: 'reachable, no releases yet',
    localHint: 'check that the store path in slipway.yml (environments.<env>.store.path, or $SLIPWAY_HOME/store) is a folder you can read',
  });
}

/** The environment's `offsite_store`: reachable, and how many off-site copies of this environment it holds. */
export async function checkOffsiteStore(o: { store: StoreConfig; projectDir: string; app: string; environment: string }): Promise<DoctorCheck> {
  return listingCheck({
    name: 'offsite store',
    store: o.store,
    projectDir: o.projectDir,
    prefix: `${o.app}/backups/${o.environment}/`,
    count: (keys) => keys.filter((k) => k.endsWith('/index.json')).length,
    noun: 'off-site copy',
    empty: 'reachable, no off-site copies yet',
    localHint: 'check that environments.<env>.offsite_store.path in slipway.yml is a folder you can read',
  });
}

async function listingCheck(o: {
  name: string;
  store: StoreConfig;
  projectDir: string;
  prefix: string;
  count: (keys: string[]) => number;
  noun: string;
  empty: string;
  localHint: string;
}): Promise<DoctorCheck> {
  try {
    if (o.store.type === 'local') {
      // Listing treats a missing prefix as empty, so look at the folder itself first.
      const root = o.store.path ? path.resolve(o.projectDir, o.store.path) : defaultLocalStorePath();
      const stat = await fs.stat(root).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (stat === null) return result(o.name, 'ok', `local folder ${root} does not exist yet (the first write creates it)`);
      if (!stat.isDirectory()) throw Object.assign(new Error(`${root} is not a folder`), { code: 'ENOTDIR' });
      await fs.access(root, fs.constants.R_OK | fs.constants.X_OK);
    }
    const store = await openStore(o.store, o.projectDir);
    const found = o.count(await store.list(o.prefix));
    const plural = o.noun.endsWith('copy') ? `${o.noun.slice(0, -1)}ies` : `${o.noun}s`;
    return result(o.name, 'ok', `${store.description}: ${found === 0 ? o.empty : `${found} ${found === 1 ? o.noun : plural}`}`);
  } catch (error) {
    return result(
      o.name,
      'fail',
      `cannot list the ${o.name}: ${errorText(error)}`,
      o.store.type === 'local'
        ? o.localHint
        : 'check the bucket name, endpoint and credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, for the agent in <root>/agent.env) and that the endpoint answers',
    );
  }
}
