/**
 * Checks of the database client tools backups and restores run: present on PATH, and
 * (with the database URL at hand) at least as new as the server.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig } from '../config/types.js';
import { errorText, result, type DoctorCheck } from './check-result.js';

const execFileText = (file: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) =>
  new Promise<string>((resolve, reject) => {
    execFile(file, args, { env: options.env, timeout: options.timeoutMs ?? 10_000, maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { message: `${error.message.split('\n')[0]}${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}` }));
      else resolve(stdout);
    });
  });

/** The executable `name` on PATH, or null. */
export async function findExecutable(name: string, pathEnv: string | undefined): Promise<string | null> {
  for (const dir of (pathEnv ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile()) continue;
      await fs.access(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** The major version a tool reports with --version (pg_dump (PostgreSQL) 15.4 → 15), or null. */
export function majorVersionOf(text: string): number | null {
  const match = /\)\s*v?(\d+)/.exec(text) ?? /(\d+)\.\d+/.exec(text) ?? /(\d+)/.exec(text);
  return match ? Number(match[1]) : null;
}

/** libpq's environment for a postgres URL: credentials go in variables, never on a command line others can read. */
export function postgresEnv(url: string): Record<string, string> {
  const u = new URL(url);
  const env: Record<string, string> = {};
  const host = u.searchParams.get('host') ?? decodeURIComponent(u.hostname);
  if (host) env.PGHOST = host;
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database) env.PGDATABASE = database;
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  env.PGCONNECT_TIMEOUT = '5';
  return env;
}

const POSTGRES_TOOLS = ['pg_dump', 'pg_restore', 'psql'];
/** Each role is filled by the first tool found: MariaDB's names, then MySQL's. */
const MYSQL_TOOLS: Array<{ role: string; names: string[] }> = [
  { role: 'dump', names: ['mariadb-dump', 'mysqldump'] },
  { role: 'client', names: ['mariadb', 'mysql'] },
];

/**
 * One check per database engine the config uses (sqlite needs no tools: slipway
 * uses SQLite's online backup). With the database URL at hand, the tools must be
 * at least as new as the server: pg_dump refuses servers newer than itself.
 */
export async function checkDatabaseTools(o: {
  databases: DatabaseConfig[];
  /** where url_env variables are looked up: the env file, then the environment */
  values: Record<string, string | undefined>;
  pathEnv: string | undefined;
  timeoutMs?: number;
}): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const postgres = o.databases.filter((d) => d.engine === 'postgres');
  const mysql = o.databases.filter((d) => d.engine === 'mysql');
  if (postgres.length > 0) checks.push(await checkPostgresTools({ ...o, databases: postgres }));
  if (mysql.length > 0) checks.push(await checkMysqlTools({ ...o, databases: mysql }));
  if (checks.length === 0) {
    checks.push(result('database tools', o.databases.length > 0 ? 'ok' : 'skip', o.databases.length > 0 ? 'sqlite only: no client tools needed' : 'no databases in slipway.yml'));
  }
  return checks;
}

async function checkPostgresTools(o: Parameters<typeof checkDatabaseTools>[0]): Promise<DoctorCheck> {
  const name = 'postgres tools';
  const found = await Promise.all(POSTGRES_TOOLS.map(async (tool) => ({ tool, file: await findExecutable(tool, o.pathEnv) })));
  const missing = found.filter((f) => f.file === null).map((f) => f.tool);
  if (missing.length > 0) {
    return result(name, 'fail', `${missing.join(', ')} not found on PATH`, 'install the PostgreSQL client tools of your server\'s version (Debian/Ubuntu: apt install postgresql-client-<major>) and make sure they are on PATH');
  }
  const versions = await Promise.all(
    found.map(async (f) => ({ ...f, major: majorVersionOf(await execFileText(f.file!, ['--version'], { timeoutMs: o.timeoutMs }).catch(() => '')) })),
  );
  const described = versions.map((v) => `${v.tool} ${v.major ?? '?'}`).join(', ');
  const problems: string[] = [];
  const unreachable: string[] = [];
  const psql = versions.find((v) => v.tool === 'psql')!.file!;
  for (const db of o.databases) {
    if (db.engine !== 'postgres') continue;
    const url = o.values[db.urlEnv];
    if (!url) {
      unreachable.push(`${db.name}: ${db.urlEnv} is not set, server version not checked`);
      continue;
    }
    let serverMajor: number;
    try {
      const env = { ...process.env, ...postgresEnv(url) };
      const out = await execFileText(psql, ['-X', '-A', '-t', '-w', '-c', 'SHOW server_version_num'], { env, timeoutMs: o.timeoutMs });
      serverMajor = Math.floor(Number(out.trim()) / 10_000);
      if (!Number.isFinite(serverMajor) || serverMajor <= 0) throw new Error(`unexpected answer "${out.trim()}"`);
    } catch (error) {
      unreachable.push(`${db.name}: cannot ask the server its version (${errorText(error)})`);
      continue;
    }
    const tooOld = versions.filter((v) => v.major !== null && v.major < serverMajor);
    if (tooOld.length > 0) problems.push(`${db.name}: the server runs PostgreSQL ${serverMajor}, older tools: ${tooOld.map((v) => `${v.tool} ${v.major}`).join(', ')}`);
  }
  if (problems.length > 0) {
    return result(name, 'fail', `${described}; ${problems.join('; ')}`, 'install the PostgreSQL client tools of the server\'s major version or newer (apt install postgresql-client-<major>) and put them first on PATH');
  }
  if (unreachable.length > 0) return result(name, 'warn', `${described}; ${unreachable.join('; ')}`, 'set the URL variable in the env file (`slipway config <env> set NAME=postgres://…`) and check that the server answers');
  return result(name, 'ok', `${described}; compatible with the server${o.databases.length === 1 ? '' : 's'}`);
}

async function checkMysqlTools(o: Parameters<typeof checkDatabaseTools>[0]): Promise<DoctorCheck> {
  const name = 'mysql tools';
  const found: Array<{ role: string; tool: string; file: string }> = [];
  const missing: string[] = [];
  for (const { role, names } of MYSQL_TOOLS) {
    let hit: { tool: string; file: string } | null = null;
    for (const tool of names) {
      const file = await findExecutable(tool, o.pathEnv);
      if (file) {
        hit = { tool, file };
        break;
      }
    }
    if (hit) found.push({ role, ...hit });
    else missing.push(names.join(' or '));
  }
  if (missing.length > 0) {
    return result(name, 'fail', `${missing.join(', ')} not found on PATH`, 'install the MariaDB (or MySQL) client tools: Debian/Ubuntu `apt install mariadb-client`');
  }
  const client = found.find((f) => f.role === 'client')!;
  const clientVersion = (await execFileText(client.file, ['--version'], { timeoutMs: o.timeoutMs }).catch(() => '')).trim();
  const servers: string[] = [];
  for (const db of o.databases) {
    if (db.engine !== 'mysql') continue;
    const url = o.values[db.urlEnv];
    if (!url) {
      servers.push(`${db.name}: ${db.urlEnv} not set`);
      continue;
    }
    try {
      const u = new URL(url);
      const args = ['--batch', '--skip-column-names', '--connect-timeout=5', '-h', u.hostname || '127.0.0.1', ...(u.port ? ['-P', u.port] : []), ...(u.username ? ['-u', decodeURIComponent(u.username)] : []), '-e', 'SELECT VERSION()'];
      const env = { ...process.env, ...(u.password ? { MYSQL_PWD: decodeURIComponent(u.password) } : {}) };
      servers.push(`${db.name}: server ${(await execFileText(client.file, args, { env, timeoutMs: o.timeoutMs })).trim()}`);
    } catch (error) {
      servers.push(`${db.name}: cannot ask the server its version (${errorText(error)})`);
    }
  }
  return result(name, 'ok', `${found.map((f) => f.tool).join(', ')} (${clientVersion.split('\n')[0] || 'version unknown'})${servers.length > 0 ? `; ${servers.join('; ')}` : ''}`);
}
