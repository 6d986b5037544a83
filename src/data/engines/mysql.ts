/**
 * MariaDB/MySQL: `mariadb-dump` (or `mysqldump`) --single-transaction --routines
 * --triggers, gzipped while it streams. The password reaches the tools in MYSQL_PWD
 * and `--no-defaults` keeps a ~/.my.cnf from overriding the URL's credentials.
 *
 * Restore drops the database's tables, views and routines, then replays the dump
 * through the client. MySQL's DDL is not transactional, so unlike PostgreSQL a
 * failure half-way leaves the database partly restored: the file is fully checked
 * (checksum, complete dump) before anything is dropped, and the same backup can be
 * restored again.
 *
 * Fingerprints are read from the dump's INSERT statements (one digest per row tuple,
 * as the tool renders it), from the backup file or from a fresh dump of a live or
 * scratch database.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { SlipwayError } from '../../errors.js';
import { readConnectionUrl, type ConnectionUrl } from '../connection-url.js';
import { corruptBackup, databaseToolError } from '../data-errors.js';
import { isZlibError, writeStreamToFile } from '../file-stream.js';
import { forEachLine, TableDigests } from '../fingerprint.js';
import { requireTool, runTool, spawnFailure, toolEnvironment, type ToolSpec } from '../tool-process.js';
import type { BackupEngine, DataEnv, DataItem, Fingerprint } from '../types.js';

type MysqlItem = Extract<DataItem, { engine: 'postgres' | 'mysql' }>;

const DUMP: ToolSpec = { names: ['mariadb-dump', 'mysqldump'], debianPackage: 'mariadb-client', purpose: 'back up MariaDB/MySQL databases' };
const CLIENT: ToolSpec = { names: ['mariadb', 'mysql'], debianPackage: 'mariadb-client', purpose: 'talk to MariaDB/MySQL' };

/** The options every dump shares: fingerprints compare the INSERT text, so it must be rendered alike. */
const DATA_RENDERING = ['--hex-blob', '--default-character-set=utf8mb4', '--tz-utc'];

interface MysqlTarget {
  conn: ConnectionUrl;
  env: NodeJS.ProcessEnv;
  /** connection options; `--no-defaults` must come first */
  args: string[];
}

function target(item: MysqlItem, env: DataEnv): MysqlTarget {
  const conn = readConnectionUrl({
    urlEnv: item.urlEnv,
    env,
    schemes: ['mysql', 'mariadb', 'mysql2'],
    example: 'mysql://app:secret@127.0.0.1:3306/app',
  });
  const args = ['--no-defaults'];
  if (conn.user) args.push(`--user=${conn.user}`);
  const socket = conn.params.get('socket');
  if (socket) args.push(`--socket=${socket}`, '--protocol=SOCKET');
  else if (conn.host) {
    // Like the apps' drivers, "localhost" means TCP here, not the client's default socket.
    args.push(`--host=${conn.host}`, '--protocol=TCP');
    if (conn.port) args.push(`--port=${conn.port}`);
  }
  const extra: Record<string, string> = {};
  if (conn.password !== '') extra.MYSQL_PWD = conn.password;
  return { conn, args, env: toolEnvironment({ env, dropPrefixes: ['MYSQL'], extra }) };
}

function fail(t: MysqlTarget, action: string, error: unknown, file?: string): SlipwayError {
  const missing = spawnFailure(CLIENT, error);
  if (missing) return missing;
  return databaseToolError({ engine: 'MariaDB/MySQL', conn: t.conn, error, action, file });
}

function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

async function query(t: MysqlTarget, sql: string, database = t.conn.database): Promise<string[][]> {
  const client = requireTool(CLIENT, t.env);
  const { stdout } = await runTool({
    file: client,
    args: [...t.args, '--connect-timeout=15', '--batch', '--skip-column-names', '-e', sql, database],
    env: t.env,
  });
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

async function connect(t: MysqlTarget): Promise<string> {
  try {
    return (await query(t, 'SELECT VERSION()'))[0]?.[0] ?? '';
  } catch (error) {
    throw fail(t, `connect to the database of ${t.conn.urlEnv}`, error);
  }
}

/**
 * Reads a dump: "-- Dumping data for table `t`" declares a table (so empty ones count),
 * INSERT INTO `t` VALUES (…),(…); adds one row per tuple. Tuples may sit on the
 * INSERT's line or on lines of their own (MariaDB ≥ 10.x), so the scan keeps its state
 * across lines; strings are quoted with ' and escaped with \.
 */
export class MysqlDumpScanner {
  readonly digests = new TableDigests();
  /** a "-- MariaDB dump" / "-- MySQL dump" line among the first lines (newer tools put a sandbox-mode comment before it) */
  sawHeader = false;
  lastNonEmpty = '';
  private lineCount = 0;
  private table: string | null = null;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private tuple: Buffer[] = [];

  line(line: Buffer): void {
    if (this.lineCount++ < 5 && /^-- (MariaDB|MySQL) dump/.test(line.subarray(0, 20).toString('latin1'))) this.sawHeader = true;
    if (line.length > 0 && this.table === null) this.lastNonEmpty = line.subarray(0, 200).toString('utf8');
    if (this.table !== null) {
      this.scanValues(line, 0);
      return;
    }
    const head = line.subarray(0, 40).toString('latin1');
    if (head.startsWith('-- Dumping data for table `')) {
      const name = backtickName(line.toString('utf8'), '-- Dumping data for table '.length);
      if (name) this.digests.table(name.name);
    } else if (head.startsWith('INSERT INTO `')) {
      const text = line.toString('latin1');
      const name = backtickName(text, 'INSERT INTO '.length);
      if (!name) return;
      const values = text.indexOf(' VALUES', name.end);
      if (values === -1) return;
      this.table = Buffer.from(name.name, 'latin1').toString('utf8');
      this.digests.table(this.table);
      this.depth = 0;
      this.inString = false;
      this.escaped = false;
      this.tuple = [];
      this.scanValues(line, values + ' VALUES'.length);
    }
  }

  private scanValues(line: Buffer, from: number): void {
    let start = this.depth > 0 ? from : -1;
    for (let i = from; i < line.length; i++) {
      const c = line[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true; // \
        else if (c === 0x27) this.inString = false; // '
        continue;
      }
      if (c === 0x27) this.inString = true;
      else if (c === 0x28) {
        // (
        if (this.depth === 0) start = i;
        this.depth++;
      } else if (c === 0x29) {
        // )
        this.depth--;
        if (this.depth === 0) {
          this.tuple.push(line.subarray(start, i + 1));
          this.digests.addRow(this.table!, this.tuple.length === 1 ? this.tuple[0] : Buffer.concat(this.tuple));
          this.tuple = [];
          start = -1;
        }
      } else if (c === 0x3b && this.depth === 0) {
        // ; ends the statement
        this.table = null;
        return;
      }
    }
    // A tuple continuing on the next line (a raw newline inside it): keep its first part.
    if (this.depth > 0 && start !== -1) this.tuple.push(Buffer.concat([line.subarray(start), Buffer.from('\n')]));
  }
}

function backtickName(text: string, at: number): { name: string; end: number } | null {
  if (text[at] !== '`') return null;
  let name = '';
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === '`') {
      if (text[i + 1] === '`') {
        name += '`';
        i++;
        continue;
      }
      return { name, end: i + 1 };
    }
    name += text[i];
  }
  return null;
}

async function scanDump(stream: Readable): Promise<MysqlDumpScanner> {
  const scanner = new MysqlDumpScanner();
  await forEachLine(stream, (line) => scanner.line(line));
  return scanner;
}

async function dumpFingerprint(t: MysqlTarget, database: string): Promise<Fingerprint> {
  const dump = requireTool(DUMP, t.env);
  const { result } = await runTool({
    file: dump,
    args: [...t.args, '--single-transaction', '--no-create-info', '--skip-triggers', '--no-tablespaces', ...DATA_RENDERING, database],
    env: t.env,
    consume: scanDump,
  });
  return result!.digests.result();
}

function gunzipStream(file: string): Readable {
  const gunzip = createGunzip();
  const source = createReadStream(file);
  source.on('error', (error) => gunzip.destroy(error));
  return source.pipe(gunzip);
}

/** Statements that empty the database: every table, view and routine in it. */
async function dropEverythingSql(t: MysqlTarget): Promise<string> {
  const tables = await query(t, 'SELECT table_type, table_name FROM information_schema.tables WHERE table_schema = DATABASE()');
  const routines = await query(t, 'SELECT routine_type, routine_name FROM information_schema.routines WHERE routine_schema = DATABASE()');
  const lines = ['SET FOREIGN_KEY_CHECKS = 0;'];
  for (const [type, name] of tables) lines.push(`DROP ${type === 'VIEW' ? 'VIEW' : 'TABLE'} IF EXISTS ${quoteIdentifier(name)};`);
  for (const [type, name] of routines) {
    if (type === 'PROCEDURE' || type === 'FUNCTION') lines.push(`DROP ${type} IF EXISTS ${quoteIdentifier(name)};`);
  }
  lines.push('SET FOREIGN_KEY_CHECKS = 1;', '');
  return lines.join('\n');
}

async function loadDump(o: { t: MysqlTarget; file: string; database: string; prelude: string }): Promise<void> {
  const client = requireTool(CLIENT, o.t.env);
  await runTool({
    file: client,
    args: [...o.t.args, '--connect-timeout=15', '--batch', '--default-character-set=utf8mb4', o.database],
    env: o.t.env,
    feed: async (stdin: Writable) => {
      if (o.prelude) await new Promise<void>((resolve, reject) => stdin.write(o.prelude, (error) => (error ? reject(error) : resolve())));
      await pipeline(gunzipStream(o.file), stdin);
    },
  });
}

export const mysqlEngine: BackupEngine<MysqlItem> = {
  engine: 'mysql',
  fileSuffix: '.sql.gz',

  async backup({ item, outFile, env, onProgress }) {
    const t = target(item, env);
    const dump = requireTool(DUMP, env);
    requireTool(CLIENT, env);
    await connect(t);
    const tool = (await runTool({ file: dump, args: ['--version'], env: t.env })).stdout.trim();
    try {
      const { result } = await runTool({
        file: dump,
        args: [...t.args, '--single-transaction', '--routines', '--triggers', '--no-tablespaces', ...DATA_RENDERING, t.conn.database],
        env: t.env,
        consume: (stdout) =>
          writeStreamToFile({
            source: stdout,
            file: outFile,
            gzip: true,
            onBytes: (bytes) => onProgress?.({ item: item.name, phase: 'backup', bytes, totalBytes: null }),
          }),
      });
      return { ...result!, tool };
    } catch (error) {
      await fs.rm(outFile, { force: true });
      throw fail(t, `back up the database of ${t.conn.urlEnv}`, error, outFile);
    }
  },

  async inspect({ file }) {
    let scanner: MysqlDumpScanner;
    try {
      scanner = await scanDump(gunzipStream(file));
    } catch (error) {
      if (isZlibError(error)) throw corruptBackup(file, `its compressed data is damaged (${(error as Error).message})`, error);
      throw error;
    }
    if (!scanner.sawHeader) {
      throw corruptBackup(file, 'it does not start like a mariadb-dump/mysqldump file');
    }
    // The tools write this line last, only when the dump ran to its end.
    if (!scanner.lastNonEmpty.startsWith('-- Dump completed')) throw corruptBackup(file, 'the dump is incomplete (no "-- Dump completed" line at its end)');
    return scanner.digests.result();
  },

  async restore({ item, file, env }) {
    const t = target(item, env);
    requireTool(CLIENT, env);
    await connect(t);
    try {
      const prelude = await dropEverythingSql(t);
      await loadDump({ t, file, database: t.conn.database, prelude });
    } catch (error) {
      const wrapped = fail(t, `restore the database of ${t.conn.urlEnv}`, error);
      throw new SlipwayError(wrapped.code === 'BACKUP_TOOL_FAILED' ? 'BACKUP_RESTORE_FAILED' : wrapped.code, `${wrapped.message} The database may be partly restored: restore the same backup again once the cause is fixed.`, {
        hint: wrapped.hint,
        details: wrapped.details,
        cause: error,
      });
    }
  },

  async scratchFingerprint({ item, file, env }) {
    const t = target(item, env);
    await connect(t);
    const scratch = `slipway_verify_${randomBytes(6).toString('hex')}`;
    try {
      const [[charset, collation] = ['utf8mb4', '']] = await query(
        t,
        'SELECT default_character_set_name, default_collation_name FROM information_schema.schemata WHERE schema_name = DATABASE()',
      );
      await query(t, `CREATE DATABASE ${quoteIdentifier(scratch)} CHARACTER SET ${charset}${collation ? ` COLLATE ${collation}` : ''}`);
    } catch (error) {
      const wrapped = fail(t, 'create a scratch database to verify the backup in', error);
      if (wrapped.code === 'BACKUP_DB_PERMISSION' || wrapped.code === 'BACKUP_DB_AUTH') {
        throw new SlipwayError('BACKUP_SCRATCH_DENIED', `The user "${t.conn.user}" of ${t.conn.urlEnv} may not create databases, so the backup cannot be restored into a scratch database to verify it.`, {
          hint: `Grant it: \`GRANT ALL ON \\\`slipway\\_verify\\_%\\\`.* TO '${t.conn.user}'@'%';\` (the scratch database is dropped after the check).`,
          cause: error,
        });
      }
      throw wrapped;
    }
    try {
      await loadDump({ t, file, database: scratch, prelude: '' });
      return await dumpFingerprint(t, scratch);
    } catch (error) {
      throw fail(t, 'restore the backup into a scratch database', error);
    } finally {
      await query(t, `DROP DATABASE IF EXISTS ${quoteIdentifier(scratch)}`).catch(() => undefined);
    }
  },

  async fingerprint({ item, env }) {
    const t = target(item, env);
    try {
      return await dumpFingerprint(t, t.conn.database);
    } catch (error) {
      throw fail(t, `read the database of ${t.conn.urlEnv}`, error);
    }
  },
};

/** Runs an SQL file against the item's database through the client (the scrub of a production → staging copy). */
export async function runMysqlSqlFile(o: { item: MysqlItem; env: DataEnv; sqlFile: string }): Promise<void> {
  const t = target(o.item, o.env);
  const client = requireTool(CLIENT, o.env);
  await connect(t);
  try {
    await runTool({
      file: client,
      args: [...t.args, '--connect-timeout=15', '--batch', '--default-character-set=utf8mb4', t.conn.database],
      env: t.env,
      feed: (stdin) => pipeline(createReadStream(o.sqlFile), stdin),
    });
  } catch (error) {
    throw fail(t, `run ${o.sqlFile} against the database of ${t.conn.urlEnv} (statements before the failing one were applied)`, error);
  }
}
