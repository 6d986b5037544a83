/**
 * PostgreSQL: `pg_dump -Fc` (already compressed) streamed to the backup file.
 *
 * Restore is one transaction: every user schema is dropped, then the archive's SQL
 * (pg_restore to stdout) is replayed through `psql --single-transaction`. A failure
 * rolls all of it back, and objects created after the backup (a migration's new
 * table) do not survive a restore, as they would with `pg_restore --clean`.
 *
 * Fingerprints come from the data as pg_dump writes it (COPY text, one line per row,
 * plus sequence values): the archive's own (pg_restore --data-only), or a live or
 * scratch database's (pg_dump --data-only), so both sides are rendered by the same code.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../../errors.js';
import { readConnectionUrl, withDatabase, type ConnectionUrl } from '../connection-url.js';
import { corruptBackup, databaseToolError } from '../data-errors.js';
import { writeStreamToFile } from '../file-stream.js';
import { forEachLine, TableDigests } from '../fingerprint.js';
import { requireTool, runTool, spawnFailure, toolEnvironment, ToolExitError, lastLines, type ToolSpec } from '../tool-process.js';
import type { BackupEngine, DataEnv, DataItem, Fingerprint } from '../types.js';

type PostgresItem = Extract<DataItem, { engine: 'postgres' | 'mysql' }>;

const PG_DUMP: ToolSpec = { names: ['pg_dump'], debianPackage: 'postgresql-client', purpose: 'back up PostgreSQL databases' };
const PG_RESTORE: ToolSpec = { names: ['pg_restore'], debianPackage: 'postgresql-client', purpose: 'read and restore PostgreSQL backups' };
const PSQL: ToolSpec = { names: ['psql'], debianPackage: 'postgresql-client', purpose: 'talk to PostgreSQL' };

interface PgTarget {
  conn: ConnectionUrl;
  env: NodeJS.ProcessEnv;
}

function target(item: PostgresItem, env: DataEnv): PgTarget {
  const conn = readConnectionUrl({
    urlEnv: item.urlEnv,
    env,
    schemes: ['postgres', 'postgresql'],
    example: 'postgres://app:secret@127.0.0.1:5432/app',
  });
  // UTC and fixed settings: the COPY text of timestamptz must not depend on where it was rendered.
  const extra: Record<string, string> = { PGTZ: 'UTC', PGCONNECT_TIMEOUT: '15', PGAPPNAME: 'slipway' };
  if (conn.password !== '') extra.PGPASSWORD = conn.password;
  return { conn, env: toolEnvironment({ env, dropPrefixes: ['PG'], extra }) };
}

function offlineEnv(env: DataEnv): NodeJS.ProcessEnv {
  return toolEnvironment({ env, dropPrefixes: ['PG'], extra: { PGTZ: 'UTC' } });
}

function fail(t: PgTarget, action: string, error: unknown, file?: string): SlipwayError {
  const missing = spawnFailure(PSQL, error);
  if (missing) return missing;
  return databaseToolError({ engine: 'PostgreSQL', conn: t.conn, error, action, file });
}

async function psql(t: PgTarget, o: { url?: URL; sql: string }): Promise<string> {
  const file = requireTool(PSQL, t.env);
  const url = o.url ?? t.conn.withoutPassword;
  const { stdout } = await runTool({
    file,
    args: ['-X', '-q', '-A', '-t', '--no-password', '-v', 'ON_ERROR_STOP=1', `--dbname=${url.href}`, '-c', o.sql],
    env: t.env,
  });
  return stdout;
}

function majorOf(versionText: string): number | null {
  const match = /(\d+)(?:\.(\d+))?/.exec(versionText);
  return match ? Number(match[1]) : null;
}

/** Connects (so bad credentials fail before anything is written or dropped); returns server_version_num. */
async function serverVersion(t: PgTarget): Promise<number> {
  try {
    return Number((await psql(t, { sql: 'SHOW server_version_num' })).trim());
  } catch (error) {
    throw fail(t, `connect to the database of ${t.conn.urlEnv}`, error);
  }
}

/** Checks pg_dump can dump this server (a major version at least the server's). */
async function checkServer(t: PgTarget, pgDump: string): Promise<{ tool: string }> {
  const serverNum = await serverVersion(t);
  const toolText = (await runTool({ file: pgDump, args: ['--version'], env: t.env })).stdout.trim();
  const toolMajor = majorOf(toolText.replace(/^[^\d]*/, ''));
  const serverMajor = serverNum >= 100000 ? Math.floor(serverNum / 10000) : Math.floor(serverNum / 100) / 100;
  if (toolMajor !== null && Number.isFinite(serverMajor) && toolMajor < serverMajor) {
    throw new SlipwayError(
      'BACKUP_TOOL_TOO_OLD',
      `pg_dump ${toolMajor} cannot back up the PostgreSQL ${serverMajor} server of ${t.conn.urlEnv}: pg_dump must be at least as new as the server.`,
      { hint: `Install the PostgreSQL ${serverMajor} client tools (Debian/Ubuntu: \`apt-get install postgresql-client-${serverMajor}\`, from apt.postgresql.org when your release lacks it).` },
    );
  }
  return { tool: toolText };
}

/** The archive's table of contents; a damaged or foreign file fails here. */
async function listArchive(file: string, env: DataEnv): Promise<string> {
  const pgRestore = requireTool(PG_RESTORE, env);
  try {
    return (await runTool({ file: pgRestore, args: ['--list', file], env: offlineEnv(env) })).stdout;
  } catch (error) {
    throw archiveError(file, error);
  }
}

function archiveError(file: string, error: unknown): SlipwayError {
  if (error instanceof SlipwayError) return error;
  if (error instanceof ToolExitError && /unsupported version/i.test(error.stderr)) {
    return new SlipwayError('BACKUP_TOOL_TOO_OLD', `pg_restore on this host is older than the pg_dump that wrote ${file}: ${lastLines(error.stderr, 1)}`, {
      hint: 'Install the PostgreSQL client tools of the server\'s version or newer (Debian/Ubuntu: `apt-get install postgresql-client-<version>`).',
      cause: error,
    });
  }
  if (error instanceof ToolExitError) return corruptBackup(file, `pg_restore cannot read it (${lastLines(error.stderr, 2) || error.message})`, error);
  return spawnFailure(PG_RESTORE, error) ?? corruptBackup(file, (error as Error).message, error);
}

/** Reads pg_dump's SQL text: COPY blocks (one row per line) and sequence values. */
export async function scanPostgresData(stream: Readable): Promise<Fingerprint> {
  const digests = new TableDigests();
  let table: string | null = null;
  await forEachLine(stream, (line) => {
    if (table !== null) {
      if (line.length === 2 && line[0] === 0x5c && line[1] === 0x2e) table = null; // "\."
      else digests.addRow(table, line);
      return;
    }
    if (line.length < 5) return;
    const head = line.subarray(0, 26).toString('latin1');
    if (head.startsWith('COPY ')) {
      const match = /^COPY (.+?)(?: \(.*\))? FROM stdin;$/.exec(line.toString('utf8'));
      if (match) {
        table = match[1];
        digests.table(table);
      }
    } else if (head.startsWith('SELECT pg_catalog.setval(')) {
      const match = /^SELECT pg_catalog\.setval\('((?:[^']|'')+)', (.+)\);$/.exec(line.toString('utf8'));
      if (match) digests.addRow(`sequence ${match[1]}`, match[2]);
    }
  });
  return digests.result();
}

/** Before the archive's SQL: an empty database in the state pg_dump expects (a default public schema). */
function resetSql(archiveCreatesPublic: boolean): string {
  const recreatePublic = archiveCreatesPublic
    ? ''
    : `CREATE SCHEMA public;
DO $slipway$ BEGIN
  IF current_setting('server_version_num')::int >= 150000 THEN
    ALTER SCHEMA public OWNER TO pg_database_owner;
    GRANT USAGE ON SCHEMA public TO PUBLIC;
  ELSE
    GRANT ALL ON SCHEMA public TO PUBLIC;
  END IF;
EXCEPTION WHEN insufficient_privilege THEN NULL;
END $slipway$;
`;
  return `SET client_min_messages = warning;
SET lock_timeout = '60s';
DO $slipway$
DECLARE s record;
BEGIN
  FOR s IN SELECT nspname FROM pg_catalog.pg_namespace
           WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s.nspname);
  END LOOP;
END $slipway$;
${recreatePublic}SET lock_timeout = 0;
`;
}

async function restoreInto(o: { t: PgTarget; url: URL; file: string; toc: string }): Promise<void> {
  const psqlFile = requireTool(PSQL, o.t.env);
  const pgRestore = requireTool(PG_RESTORE, o.t.env);
  const createsPublic = /^\d+; \d+ \d+ SCHEMA - public /m.test(o.toc);
  await runTool({
    file: psqlFile,
    args: ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '--single-transaction', `--dbname=${o.url.href}`, '-f', '-'],
    env: o.t.env,
    feed: async (stdin: Writable) => {
      await new Promise<void>((resolve, reject) => stdin.write(resetSql(createsPublic), (error) => (error ? reject(error) : resolve())));
      await runTool({
        file: pgRestore,
        args: ['--no-owner', '-f', '-', o.file],
        env: o.t.env,
        consume: (sql) => pipeline(sql, stdin, { end: false }),
      });
      // Only a complete script may reach its end: psql commits at end of input. When
      // pg_restore fails instead, runTool stops psql with stdin still open, and the
      // server rolls the transaction back.
      stdin.end();
    },
  });
}

async function dumpFingerprint(t: PgTarget, url: URL): Promise<Fingerprint> {
  const pgDump = requireTool(PG_DUMP, t.env);
  const { result } = await runTool({
    file: pgDump,
    args: ['--data-only', '--no-password', `--dbname=${url.href}`],
    env: t.env,
    consume: scanPostgresData,
  });
  return result!;
}

function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export const postgresEngine: BackupEngine<PostgresItem> = {
  engine: 'postgres',
  fileSuffix: '.pgdump',

  async backup({ item, outFile, env, onProgress }) {
    const t = target(item, env);
    const pgDump = requireTool(PG_DUMP, env);
    requireTool(PSQL, env);
    const { tool } = await checkServer(t, pgDump);
    try {
      const { result } = await runTool({
        file: pgDump,
        args: ['--format=custom', '--no-password', `--dbname=${t.conn.withoutPassword.href}`],
        env: t.env,
        consume: (stdout) =>
          writeStreamToFile({
            source: stdout,
            file: outFile,
            gzip: false,
            onBytes: (bytes) => onProgress?.({ item: item.name, phase: 'backup', bytes, totalBytes: null }),
          }),
      });
      return { ...result!, tool };
    } catch (error) {
      await fs.rm(outFile, { force: true });
      throw fail(t, `back up the database of ${t.conn.urlEnv}`, error, outFile);
    }
  },

  async inspect({ file, env }) {
    await listArchive(file, env);
    const pgRestore = requireTool(PG_RESTORE, env);
    try {
      const { result } = await runTool({ file: pgRestore, args: ['--data-only', '-f', '-', file], env: offlineEnv(env), consume: scanPostgresData });
      return result!;
    } catch (error) {
      throw archiveError(file, error);
    }
  },

  async restore({ item, file, env }) {
    const t = target(item, env);
    requireTool(PSQL, env);
    const toc = await listArchive(file, env);
    await serverVersion(t);
    try {
      await restoreInto({ t, url: t.conn.withoutPassword, file, toc });
    } catch (error) {
      throw fail(t, `restore the database of ${t.conn.urlEnv} (the restore ran in one transaction: the database is unchanged)`, error);
    }
  },

  async scratchFingerprint({ item, file, env }) {
    const t = target(item, env);
    const toc = await listArchive(file, env);
    const scratch = `slipway_verify_${randomBytes(6).toString('hex')}`;
    let settings: string[];
    try {
      const row = await psql(t, {
        sql: 'SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = current_database()',
      });
      settings = row.trim().split('|');
      await psql(t, {
        sql: `CREATE DATABASE ${scratch} TEMPLATE template0 ENCODING ${quoteLiteral(settings[0])} LC_COLLATE ${quoteLiteral(settings[1])} LC_CTYPE ${quoteLiteral(settings[2])}`,
      });
    } catch (error) {
      const wrapped = fail(t, 'create a scratch database to verify the backup in', error);
      if (wrapped.code === 'BACKUP_DB_PERMISSION') {
        throw new SlipwayError('BACKUP_SCRATCH_DENIED', `The user "${t.conn.user}" of ${t.conn.urlEnv} may not create databases, so the backup cannot be restored into a scratch database to verify it.`, {
          hint: `Grant it: \`ALTER ROLE "${t.conn.user}" CREATEDB;\` (the scratch database is dropped after the check).`,
          cause: error,
        });
      }
      throw wrapped;
    }
    const scratchUrl = withDatabase(t.conn.withoutPassword, scratch);
    try {
      await restoreInto({ t, url: scratchUrl, file, toc });
      return await dumpFingerprint(t, scratchUrl);
    } catch (error) {
      throw fail(t, 'restore the backup into a scratch database', error);
    } finally {
      await psql(t, { sql: `DROP DATABASE IF EXISTS ${scratch}` }).catch(() => undefined);
    }
  },

  async fingerprint({ item, env }) {
    const t = target(item, env);
    try {
      return await dumpFingerprint(t, t.conn.withoutPassword);
    } catch (error) {
      throw fail(t, `read the database of ${t.conn.urlEnv}`, error);
    }
  },
};

/** Runs an SQL file against the item's database in one transaction (the scrub of a production → staging copy). */
export async function runPostgresSqlFile(o: { item: PostgresItem; env: DataEnv; sqlFile: string }): Promise<void> {
  const t = target(o.item, o.env);
  const psqlFile = requireTool(PSQL, o.env);
  await serverVersion(t);
  try {
    await runTool({
      file: psqlFile,
      args: ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '--single-transaction', `--dbname=${t.conn.withoutPassword.href}`, '-f', o.sqlFile],
      env: t.env,
    });
  } catch (error) {
    throw fail(t, `run ${o.sqlFile} against the database of ${t.conn.urlEnv} (it ran in one transaction: nothing of it was applied)`, error);
  }
}
