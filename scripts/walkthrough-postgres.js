// The walkthrough's own throwaway PostgreSQL server (the tests' starter, compiled: a cluster
// in a temp folder on 127.0.0.1 and a free port, fsync off), with one database per
// environment owned by the app's role. Stop it with `stop()`: the server and its folder go.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './walkthrough-kit.js';

const ROLE = 'notes';
// A walkthrough-only server on loopback, gone when the walkthrough ends.
const PASSWORD = 'walkthrough-only-f3b9c2';

/**
 * Starts PostgreSQL and creates `notes_<environment>` for each environment.
 * @param {string[]} environments
 * @returns {Promise<{ port: number, version: string, databases: Record<string, string>, urls: Record<string, string>, stop(): Promise<void> }>}
 */
export async function startWalkthroughPostgres(environments) {
  const helper = path.join(root, 'dist', 'test', 'helpers', 'postgres.js');
  if (!existsSync(helper)) throw new Error('walkthrough stopped: dist/ is missing: run `npm run build` first');
  const { startPostgres, PostgresUnavailableError } = await import(pathToFileURL(helper).href);
  let pg;
  try {
    pg = await startPostgres();
  } catch (error) {
    if (!(error instanceof PostgresUnavailableError)) throw error;
    throw new Error(
      `walkthrough stopped: it keeps the notes of development, staging and production in PostgreSQL, and PostgreSQL cannot be started on this machine: ${error.message}.\n` +
        'Install PostgreSQL (on Debian: apt-get install postgresql) and run it again.',
    );
  }
  try {
    const sql = (statement) => pg.runTool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg.socketDir, '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres', '-c', statement]);
    const version = (await sql('SHOW server_version')).trim().split(' ')[0];
    // CREATEDB: slipway verifies a backup by restoring it into a scratch database.
    await sql(`CREATE ROLE ${ROLE} LOGIN CREATEDB PASSWORD '${PASSWORD}'`);
    const databases = {};
    const urls = {};
    for (const name of environments) {
      databases[name] = `notes_${name}`;
      await sql(`CREATE DATABASE ${databases[name]} OWNER ${ROLE}`);
      urls[name] = `postgres://${ROLE}:${PASSWORD}@127.0.0.1:${pg.port}/${databases[name]}`;
    }
    return { port: pg.port, version, databases, urls, stop: () => pg.stop() };
  } catch (error) {
    await pg.stop().catch(() => undefined);
    throw error;
  }
}
