/**
 * `slipway doctor`: checks of the machine and the host an environment runs on.
 * Each check answers on its own (a failure never stops the others) and says how
 * to fix what fails. Checks only read, except a probe file in the host root that
 * is removed at once.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { DatabaseConfig, StoreConfig } from '../config/types.js';
import { formatBytes } from '../util/format.js';
import { redactSecrets } from '../errors.js';
import type { HostLayout } from '../host/layout.js';
import { freeBytesAt } from '../plan/gather.js';
import { defaultLocalStorePath, openStore } from '../store/open-store.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  name: string;
  /** false only when status is 'fail' */
  ok: boolean;
  status: CheckStatus;
  detail: string;
  /** what to do; always present when the check fails or warns */
  fix?: string;
}

function result(name: string, status: CheckStatus, detail: string, fix?: string): DoctorCheck {
  return { name, ok: status !== 'fail', status, detail, ...(fix === undefined ? {} : { fix }) };
}

function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return redactSecrets(e?.code ? `${e.code}: ${e.message.replace(new RegExp(`^${e.code}:\\s*`), '')}` : String(e?.message ?? error));
}

// ---- disk ----

export const GIB = 1024 ** 3;

export async function checkDiskSpace(o: { dir: string; warnBelowBytes?: number; failBelowBytes?: number }): Promise<DoctorCheck> {
  const warnBelow = o.warnBelowBytes ?? GIB;
  const failBelow = o.failBelowBytes ?? 256 * 1024 * 1024;
  let free: number;
  try {
    free = await freeBytesAt(o.dir);
  } catch (error) {
    return result('disk space', 'fail', `cannot read the free space under ${o.dir}: ${errorText(error)}`, `check that ${o.dir} (or its parent) exists and is readable`);
  }
  const detail = `${formatBytes(free)} free under ${o.dir}`;
  const fix = `free some space under ${o.dir}: \`slipway prune\` removes old releases; old backups and logs are the other usual suspects`;
  if (free < failBelow) return result('disk space', 'fail', `${detail}: below ${formatBytes(failBelow)}, updates and backups will fail`, fix);
  if (free < warnBelow) return result('disk space', 'warn', `${detail}: below ${formatBytes(warnBelow)}`, fix);
  return result('disk space', 'ok', detail);
}

// ---- node ----

export const MIN_NODE_MAJOR = 20;

export function checkNodeVersion(version: string = process.versions.node): DoctorCheck {
  const major = Number(/^v?(\d+)/.exec(version)?.[1] ?? NaN);
  if (!(major >= MIN_NODE_MAJOR)) {
    return result('node', 'fail', `Node ${version}; slipway needs ${MIN_NODE_MAJOR} or newer`, `install Node ${MIN_NODE_MAJOR} LTS or newer (https://nodejs.org, or your distribution's nodejs package) and run slipway with it`);
  }
  return result('node', 'ok', `Node ${version}`);
}

// ---- host folders ----

/** The host root must be a folder slipway can write (or create: its nearest existing parent must be one). */
export async function checkHostRoot(root: string): Promise<DoctorCheck> {
  let at = path.resolve(root);
  let stat: import('node:fs').Stats | null = null;
  for (;;) {
    try {
      stat = await fs.stat(at);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path.dirname(at) === at) {
        return result('host root', 'fail', `cannot look at ${at}: ${errorText(error)}`, `check the permissions of the folders above ${root}`);
      }
      at = path.dirname(at);
    }
  }
  if (!stat.isDirectory()) {
    return result('host root', 'fail', `${at} is a file, not a folder${at === path.resolve(root) ? '' : ` (the host root ${root} would be inside it)`}`, `move ${at} aside, or set environments.<env>.root in slipway.yml to another folder`);
  }
  const creating = at !== path.resolve(root);
  try {
    // A real write: permission bits do not tell the whole story (read-only mounts, root's bypass of modes).
    const probe = await fs.mkdtemp(path.join(at, '.slipway-doctor-'));
    await fs.rm(probe, { recursive: true, force: true });
  } catch (error) {
    return result('host root', 'fail', `cannot write in ${at}: ${errorText(error)}`, `make ${at} writable by ${process.env.USER ?? 'the user running slipway'} (and not on a read-only mount), or set environments.<env>.root to a folder that is`);
  }
  return result('host root', 'ok', creating ? `${root} does not exist yet; ${at} is writable, so it can be created` : `${root} is writable`);
}

/** shared/.env holds secrets: owner only. */
export async function checkEnvFile(file: string): Promise<DoctorCheck> {
  let stat: import('node:fs').Stats;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result('env file', 'ok', `no env file at ${file} (none needed until a release declares config keys)`);
    return result('env file', 'fail', `cannot read ${file}: ${errorText(error)}`, `check the permissions of ${path.dirname(file)}`);
  }
  if (!stat.isFile()) return result('env file', 'fail', `${file} is not a file`, `remove it and set config with \`slipway config <env> set KEY=VALUE\``);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    return result('env file', 'fail', `${file} is mode ${mode.toString(8)}: other users can read the app's secrets`, `chmod 600 ${file}`);
  }
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    return result('env file', 'warn', `${file} belongs to uid ${stat.uid}, not to the user running slipway (uid ${process.getuid()})`, `chown ${process.getuid()} ${file}, or run slipway as its owner`);
  }
  return result('env file', 'ok', `${file} is mode 600`);
}

// ---- database tools ----

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

// ---- clock ----

/** Beyond this the store may refuse signed requests (S3 allows 15 minutes) and backup times mislead. */
export const CLOCK_SKEW_FAIL_MS = 5 * 60_000;
export const CLOCK_SKEW_WARN_MS = 30_000;

/** The offset of a server's clock from ours, from the Date header of a HEAD request (1 s resolution). */
export async function measureClockSkew(url: string, timeoutMs = 5_000): Promise<number> {
  const sent = Date.now();
  const answer = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  const received = Date.now();
  const date = answer.headers.get('date');
  if (!date || Number.isNaN(Date.parse(date))) throw new Error(`${url} sent no Date header`);
  return Date.parse(date) - (sent + received) / 2;
}

/** The remote clock to compare with: an S3 store's endpoint. A local store has none. */
export async function checkClockSkew(o: { store: StoreConfig; timeoutMs?: number }): Promise<DoctorCheck> {
  const name = 'clock';
  if (o.store.type !== 's3') return result(name, 'skip', 'the store is a local folder: no remote clock to compare with (keep NTP running: `timedatectl status`)');
  const url = o.store.endpoint ?? `https://s3.${o.store.region ?? 'us-east-1'}.amazonaws.com`;
  let skew: number;
  try {
    skew = await measureClockSkew(url, o.timeoutMs);
  } catch (error) {
    return result(name, 'warn', `cannot read the time of ${url}: ${errorText(error)}`, 'check the store check below; the clock is compared with the store\'s');
  }
  const seconds = Math.round(Math.abs(skew) / 1000);
  const detail = `this machine's clock is ${seconds} s ${skew > 0 ? 'behind' : 'ahead of'} ${url}`;
  const fix = 'synchronize the clock: enable NTP (`timedatectl set-ntp true`, or chrony/systemd-timesyncd)';
  if (Math.abs(skew) > CLOCK_SKEW_FAIL_MS) return result(name, 'fail', detail, fix);
  if (Math.abs(skew) > CLOCK_SKEW_WARN_MS) return result(name, 'warn', detail, fix);
  return result(name, 'ok', `within ${Math.max(1, seconds)} s of ${url}`);
}

// ---- agent and port ----

interface AgentAnswer {
  pid: number;
  port: number | null;
  current: string | null;
}

/** Asks the agent's socket for its status; null when nothing listens there. Rejects when something answers that is not an agent. */
export function probeAgent(socketPath: string, timeoutMs = 3_000): Promise<AgentAnswer | null> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'GET', path: '/v1/status', timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          if (res.statusCode !== 200 || typeof body?.agent?.pid !== 'number') throw new Error(`answered ${res.statusCode} without an agent status`);
          const port = Number(/:(\d+)$/.exec(String(body.url ?? ''))?.[1] ?? NaN);
          resolve({ pid: body.agent.pid, port: Number.isFinite(port) ? port : null, current: body.current?.version ?? null });
        } catch (error) {
          reject(new Error(`something answers on ${socketPath} but it is not a slipway agent (${(error as Error).message})`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer on ${socketPath} within ${timeoutMs} ms`)));
    req.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') resolve(null);
      else reject(error);
    });
    req.end();
  });
}

async function readAgentInfo(file: string): Promise<{ pid: number } | null> {
  try {
    const info = JSON.parse(await fs.readFile(file, 'utf8'));
    return typeof info?.pid === 'number' ? { pid: info.pid } : null;
  } catch {
    return null;
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The agent must answer on its socket when the host serves a release (or polls its
 * channel); before the first deploy it need not run.
 */
export async function checkAgent(o: { layout: HostLayout; environment: string; shouldRun: boolean; timeoutMs?: number }): Promise<DoctorCheck> {
  const name = 'agent';
  const start = `slipway agent --env ${o.environment}`;
  let answer: AgentAnswer | null;
  try {
    answer = await probeAgent(o.layout.agentSocket, o.timeoutMs);
  } catch (error) {
    return result(name, 'fail', errorText(error), `stop whatever holds ${o.layout.agentSocket} (or remove the file if nothing does), then start the agent: \`${start}\``);
  }
  if (answer) return result(name, 'ok', `pid ${answer.pid} answers on ${o.layout.agentSocket}${answer.current ? `, serving ${answer.current}` : ''}`);
  const info = await readAgentInfo(o.layout.agentInfoFile);
  if (info && isProcessAlive(info.pid)) {
    return result(name, 'fail', `the agent's pid ${info.pid} is alive but nothing answers on ${o.layout.agentSocket}`, `stop it (\`kill ${info.pid}\`) and start it again: \`${start}\``);
  }
  if (o.shouldRun) {
    return result(name, 'fail', `not running: nothing answers on ${o.layout.agentSocket}, so the app is not served`, `start it: \`${start}\` (or any \`slipway deploy\` starts it in the background)`);
  }
  return result(name, 'skip', 'not running (nothing deployed yet; `slipway deploy` starts it)');
}

/** The proxy's public port must be free, or held by this environment's own agent. */
export async function checkProxyPort(o: { bind: string; port: number; layout: HostLayout; environment: string }): Promise<DoctorCheck> {
  const name = 'proxy port';
  const where = `${o.bind}:${o.port}`;
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const server = net.createServer();
    server.once('error', (e) => resolve(e as NodeJS.ErrnoException));
    server.listen({ host: o.bind, port: o.port, exclusive: true }, () => server.close(() => resolve(null)));
  });
  if (!error) return result(name, 'ok', `${where} is free`);
  if (error.code === 'EADDRINUSE') {
    const agent = await probeAgent(o.layout.agentSocket).catch(() => null);
    if (agent && agent.port === o.port) return result(name, 'ok', `${where} is held by this environment's agent (pid ${agent.pid})`);
    return result(name, 'fail', `${where} is in use by another program`, `find it with \`ss -ltnp 'sport = :${o.port}'\` and stop it, or change environments.${o.environment}.port in slipway.yml`);
  }
  if (error.code === 'EACCES') {
    return result(name, 'fail', `not allowed to listen on ${where} (ports below 1024 need privileges)`, `use a port of 1024 or more in environments.${o.environment}.port and put your TLS proxy in front, or grant the capability (setcap cap_net_bind_service=+ep $(which node))`);
  }
  return result(name, 'fail', `cannot listen on ${where}: ${errorText(error)}`, `check environments.${o.environment}.bind in slipway.yml: it must be an address of this machine`);
}

// ---- store ----

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
