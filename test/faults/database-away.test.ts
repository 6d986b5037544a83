import path from 'node:path';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createHostFixture } from '../helpers/host-fixture.js';
import { PostgresUnavailableError, startPostgres, type RunningPostgres } from '../helpers/postgres.js';
import { FIXTURE_OPTIONS, runFaultColumn, type Schema } from './fault-case.js';
import { buildVariant, type ProjectFile } from './variants.js';

// Fault matrix, column "database away": the notes app keeps its data in PostgreSQL
// (DATABASE_URL set; v1 and v2 built with `engine: postgres`), and the server stops
// (immediate shutdown) while the update is at each step. The update fails wherever it
// needs the database; the server starts again once a step has failed (the undo waits for
// it to restore the backup), and the host must then serve one release on that release's
// data. One server for the column, one
// database per case.

let pg: RunningPostgres | null = null;

const databaseOf = (step: string) => `faults_${step}`;

function psql(database: string, statement: string): Promise<string> {
  return pg!.runTool('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', pg!.socketDir, '-p', String(pg!.port), '-U', 'postgres', '-d', database, '-c', statement]);
}

/** pg_ctl on the running test server's cluster (startPostgres keeps it in <socketDir>/data). */
function pgCtl(args: string[]): Promise<string> {
  return pg!.runTool('pg_ctl', ['-D', path.join(pg!.socketDir, 'data'), ...args]);
}

async function isServerUp(): Promise<boolean> {
  return pgCtl(['status']).then(
    () => true,
    () => false,
  );
}

/** Starts the server again on the same port and socket folder, as startPostgres did. */
async function startServerAgain(): Promise<void> {
  if (await isServerUp()) return;
  const options = `-k ${pg!.socketDir} -p ${pg!.port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  await pgCtl(['-l', path.join(pg!.socketDir, 'postgres.log'), '-w', '-t', '60', '-o', options, 'start']);
}

it('the database goes away at every step of an update', { timeout: 240_000 }, async (t) => {
  await runFaultColumn(t, {
    column: 'database-away',
    async setUp() {
      try {
        pg = await startPostgres();
        t.after(() => pg?.stop());
        return null;
      } catch (error) {
        if (error instanceof PostgresUnavailableError) return `PostgreSQL is not available: ${error.message}`;
        throw error;
      }
    },
    async fixture() {
      const base = await createHostFixture(t, { ...FIXTURE_OPTIONS, build: [] });
      const onPostgres = (project: ProjectFile) => {
        project.data.databases.main = { engine: 'postgres', url_env: 'DATABASE_URL' };
      };
      await buildVariant(base, { base: 'v1', tag: 'v1-pg', version: 'v1', editProject: onPostgres });
      await buildVariant(base, { base: 'v2', tag: 'v2-pg', version: 'v2', editProject: onPostgres });
      return base;
    },
    spec: {
      pauseWhen: 'before',
      // Started again once the update has failed: undoing the migration needs the database.
      liftOnFailure: true,
      async prepare(host, step) {
        await psql('postgres', `CREATE DATABASE ${databaseOf(step)}`);
        const set = await host.cli(['config', 'production', 'set', `DATABASE_URL=postgres://postgres@127.0.0.1:${pg!.port}/${databaseOf(step)}`]);
        assert.equal(set.code, 0, set.stderr);
      },
      async inject() {
        await pgCtl(['-m', 'immediate', '-w', 'stop']);
      },
      async lift() {
        await startServerAgain();
      },
      async cleanup() {
        await startServerAgain();
      },
      async schema(_host, step): Promise<Schema> {
        const columns = await psql(databaseOf(step), "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes'");
        return columns.split('\n').includes('words') ? 'v2' : 'v1';
      },
    },
  });
});
