/**
 * Before a backup, a verify or a restore touches a database that an accessory runs: is that
 * accessory's container running? Without it, the dump would fail with a bare "connection
 * refused"; this says which accessory to start, before anything is written or changed.
 *
 * Why the backup engines reach an accessory's database through its loopback port, with the
 * host's own pg_dump/psql (or mysqldump/mysql), rather than running the dump inside the
 * container: every database then goes through one engine and one verification path (the same
 * dump, the same archive check, the same scratch-database restore and fingerprint, whether the
 * server runs in a container or not); the tools are the host's, whose versions `slipway doctor`
 * checks against the server's, while an image may carry other tool versions or none at all;
 * and a dump streamed out of `docker exec` would add a second, engine-specific path for the
 * bytes of every backup. The accessory only has to listen on its loopback port, which it does
 * for the app anyway.
 */
import type { DataConfig } from '../config/types.js';
import { SlipwayError } from '../errors.js';

export interface AccessoryCheck {
  app: string;
  /** the environment's name */
  environment: string;
  /** the release's data config: its databases name the accessories that run them */
  data: DataConfig;
  /** what is about to happen, for the message: "back up", "verify backup 20261202-…", "restore" */
  doing: string;
}

/** The accessories the data config's databases run in: database name → accessory name. */
export function databasesInAccessories(data: DataConfig): Array<{ database: string; accessory: string }> {
  const out: Array<{ database: string; accessory: string }> = [];
  for (const db of data.databases) {
    if (db.engine !== 'sqlite' && db.accessory !== undefined) out.push({ database: db.name, accessory: db.accessory });
  }
  return out;
}

/**
 * Refuses (ACCESSORY_NOT_RUNNING) when a database of `data` names an accessory whose container
 * is stopped or missing. Data without accessories never reaches the Docker engine.
 */
export async function assertAccessoriesRunning(o: AccessoryCheck): Promise<void> {
  const needed = databasesInAccessories(o.data);
  if (needed.length === 0) return;
  // Loaded only here: process-only apps never load the engine client.
  const { connectEngine } = await import('../container/engine.js');
  const { inspectAccessory } = await import('../host/accessory-container.js');
  const docker = await connectEngine();
  for (const { database, accessory } of needed) {
    const { state } = await inspectAccessory(docker, { app: o.app, environment: o.environment, accessory });
    if (state === 'running') continue;
    throw new SlipwayError(
      'ACCESSORY_NOT_RUNNING',
      `cannot ${o.doing}: the database ${database} runs in the accessory ${accessory}, which is ${state === 'missing' ? 'not created yet' : 'stopped'}; nothing was changed`,
      { hint: `start it: \`slipway accessory start ${o.environment} ${accessory}\`, then try again` },
    );
  }
}
