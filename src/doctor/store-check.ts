/** The check of the environment's store: slipway can list its releases. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { StoreConfig } from '../config/types.js';
import { defaultLocalStorePath, openStore } from '../store/open-store.js';
import { errorText, result, type DoctorCheck } from './check-result.js';

export async function checkStore(o: { store: StoreConfig; projectDir: string; app: string }): Promise<DoctorCheck> {
  const name = 'store';
  try {
    if (o.store.type === 'local') {
      // Listing treats a missing prefix as empty, so look at the folder itself first.
      const root = o.store.path ? path.resolve(o.projectDir, o.store.path) : defaultLocalStorePath();
      const stat = await fs.stat(root).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (stat === null) return result(name, 'ok', `local folder ${root} does not exist yet (\`slipway build\` creates it)`);
      if (!stat.isDirectory()) throw Object.assign(new Error(`${root} is not a folder`), { code: 'ENOTDIR' });
      await fs.access(root, fs.constants.R_OK | fs.constants.X_OK);
    }
    const store = await openStore(o.store, o.projectDir);
    const keys = await store.list(`${o.app}/releases`);
    const releases = keys.filter((k) => k.endsWith('/info.json')).length;
    return result(name, 'ok', `${store.description}: ${releases === 0 ? 'reachable, no releases yet' : `${releases} release${releases === 1 ? '' : 's'}`}`);
  } catch (error) {
    return result(
      name,
      'fail',
      `cannot list the store: ${errorText(error)}`,
      o.store.type === 'local'
        ? 'check that the store path in slipway.yml (environments.<env>.store.path, or $SLIPWAY_HOME/store) is a folder you can read'
        : 'check the bucket name, endpoint and credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and that the endpoint answers',
    );
  }
}
