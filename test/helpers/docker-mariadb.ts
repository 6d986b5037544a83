/**
 * A MariaDB image for the accessory tests, made from this machine's own MariaDB (no registry
 * is reachable here): `mariadbd`, the `mariadb` client (for `docker exec` as root), the SQL
 * files and messages of /usr/share/mysql, the libraries `ldd` lists, and an entrypoint that
 * behaves like the official image's: an empty /var/lib/mysql gets its system tables (the
 * bootstrap `mariadb-install-db` runs: `mariadbd --bootstrap` fed those SQL files), then
 * MARIADB_DATABASE, and MARIADB_USER with MARIADB_PASSWORD and every right on that database;
 * root@localhost authenticates by unix socket, and with MARIADB_ROOT_PASSWORD, when set, by
 * password too, from anywhere (root@'%', as the official image's default). The
 * server runs as `mysql`, on 127.0.0.1 (host networking; the port is `--port=<n>` in its
 * command), its log on stderr. Arguments starting with - are the server's, as in the
 * official image, so `command: [--port=3307]` and `command: [mariadbd, --port=3307]` both work.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, appendFileSync, chmodSync, constants, cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { importRoot, minimalRoot } from './docker.js';
import { findBinary } from './mariadb.js';

const SHARE = '/usr/share/mysql';
/** What the bootstrap feeds the server, in mariadb-install-db's order (help tables and the sys schema left out: 3 MB the tests never read). */
const SYSTEM_SQL = ['mysql_system_tables.sql', 'mysql_performance_tables.sql', 'mysql_system_tables_data.sql', 'maria_add_gis_sp_bootstrap.sql'];

/** The host's MariaDB: its server, its client and the dump tool the backups use. */
export interface InstalledMariadb {
  server: string;
  client: string;
  dump: string;
  /** like 10.11.19 */
  version: string;
}


/** The host's MariaDB server, client and dump tool, or why there are none to make the image from (and to back it up with). */
export function installedMariadb(): InstalledMariadb | { missing: string } {
  const server = findBinary(['mariadbd', 'mysqld']);
  const client = findBinary(['mariadb', 'mysql']);
  const dump = findBinary(['mariadb-dump', 'mysqldump']);
  const sql = SYSTEM_SQL.map((name) => path.join(SHARE, name)).filter((file) => {
    try {
      accessSync(file, constants.R_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (server === undefined || client === undefined || dump === undefined || sql.length > 0) {
    const lacking = [server ? '' : 'mariadbd', client ? '' : 'mariadb', dump ? '' : 'mariadb-dump', ...sql].filter(Boolean);
    return { missing: `no MariaDB server binaries to make an image from (lacking ${lacking.join(', ')}); install mariadb-server` };
  }
  const answer = spawnSync(server, ['--version'], { encoding: 'utf8' });
  const version = /Ver\s+(\d+\.\d+\.\d+)/.exec(answer.stdout ?? '')?.[1];
  if (version === undefined) return { missing: `${server} --version did not name a version: ${(answer.stdout || answer.stderr || answer.error?.message || '').trim()}` };
  return { server, client, dump, version };
}

// Written without a single dollar-brace, so that String.raw keeps it as it is.
const ENTRYPOINT = String.raw`#!/bin/sh
set -e
case "$1" in -*) set -- mariadbd "$@" ;; esac
case "$1" in mariadbd|mysqld) shift ;; *) exec "$@" ;; esac
DATADIR=/var/lib/mysql
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$DATADIR" /run/mysqld
  chown -R mysql:mysql "$DATADIR" /run/mysqld
  chmod 750 "$DATADIR"
  exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" mariadbd "$@"
fi
# A string literal of SQL: backslashes and quotes escaped.
sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"; }
# A line of SQL as it is (dash's echo would read its backslashes as escapes).
sql_line() { printf '%s\n' "$*"; }
if [ ! -d "$DATADIR/mysql" ]; then
  if [ -n "$MARIADB_USER" ] && [ -z "$MARIADB_PASSWORD" ]; then echo "MARIADB_PASSWORD must be set with MARIADB_USER" >&2; exit 1; fi
  case "$MARIADB_DATABASE" in *[!A-Za-z0-9_-]*) echo "MARIADB_DATABASE: letters, digits, _ and - only" >&2; exit 1 ;; esac
  {
    # One statement a line: the bootstrap reads a statement up to a line ending in ;
    sql_line "CREATE DATABASE IF NOT EXISTS mysql;"
    sql_line "USE mysql;"
    sql_line "SET @auth_root_socket='root';"
    # Without the lines naming the container's host name, as mariadb-install-db --cross-bootstrap
    # leaves them out: that name changes with each container, and root@localhost is enough.
    for f in mysql_system_tables.sql mysql_performance_tables.sql mysql_system_tables_data.sql maria_add_gis_sp_bootstrap.sql; do sed -e '/@current_hostname/d' "/usr/share/mysql/$f"; done
    # The grant tables are loaded from here on: CREATE USER and GRANT work.
    sql_line "FLUSH PRIVILEGES;"
    if [ -n "$MARIADB_ROOT_PASSWORD" ]; then
      sql_line "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD($(sql_string "$MARIADB_ROOT_PASSWORD"));"
      sql_line "CREATE USER root@'%' IDENTIFIED BY $(sql_string "$MARIADB_ROOT_PASSWORD");"
      sql_line "GRANT ALL ON *.* TO root@'%' WITH GRANT OPTION;"
    fi
    if [ -n "$MARIADB_DATABASE" ]; then sql_line "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\` CHARACTER SET utf8mb4;"; fi
    if [ -n "$MARIADB_USER" ]; then
      sql_line "CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");"
      if [ -n "$MARIADB_DATABASE" ]; then sql_line "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO $(sql_string "$MARIADB_USER")@'%';"; fi
    fi
  } | mariadbd --no-defaults --bootstrap --datadir="$DATADIR" --log-warnings=0 --enforce-storage-engine="" --max-allowed-packet=8M --net-buffer-length=16K >/dev/null
  echo "initialized $DATADIR: database $MARIADB_DATABASE, user $MARIADB_USER"
fi
# SIGTERM (docker stop) makes mariadbd shut down cleanly; exec makes it the one that gets it.
exec mariadbd --no-defaults --datadir="$DATADIR" --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid --bind-address=127.0.0.1 --skip-name-resolve --innodb-buffer-pool-size=64M "$@"
`;

/** Tag of the image made from this MariaDB: its version and a digest of the entrypoint and the files it is made of, so a changed recipe is a new image. */
export function mariadbImageTag(installed: InstalledMariadb): string {
  const recipe = createHash('sha256').update(ENTRYPOINT).update(JSON.stringify([installed.server, installed.client, SYSTEM_SQL])).digest('hex').slice(0, 12);
  return `slipway-test/mariadb:${installed.version}-${recipe}`;
}

/**
 * `slipway-test/mariadb:<version>-<recipe>` from this machine's MariaDB, imported once per
 * engine (found again by tag). Throws when MariaDB is not installed here.
 */
export function ensureMariadbImage(installed = installedMariadb()): string {
  if ('missing' in installed) throw new Error(installed.missing);
  const tag = mariadbImageTag(installed);
  if (spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0) return tag;
  const tools = ['/usr/bin/id', '/usr/bin/mkdir', '/usr/bin/chown', '/usr/bin/chmod', '/usr/bin/setpriv', '/usr/bin/cat', '/usr/bin/sed'];
  const root = minimalRoot([installed.server, installed.client, ...tools]);
  try {
    // Error messages (english/errmsg.sys), character sets and the bootstrap's SQL, at the path the server was built with.
    cpSync(SHARE, path.join(root, SHARE), {
      recursive: true,
      dereference: true,
      filter: (source) => !['fill_help_tables.sql', 'mysql_sys_schema.sql'].includes(path.basename(source)),
    });
    // The server's and the client's names in the image, whatever the host's were.
    for (const [from, to] of [[installed.server, '/usr/sbin/mariadbd'], [installed.client, '/usr/bin/mariadb']] as const) {
      if (from !== to) cpSync(from, path.join(root, to), { dereference: true });
    }
    // minimalRoot's mkdir went through the umask: /tmp must be writable by mysql too.
    chmodSync(path.join(root, 'tmp'), 0o1777);
    appendFileSync(path.join(root, 'etc/passwd'), 'mysql:x:999:999:MariaDB Server:/var/lib/mysql:/bin/sh\n');
    appendFileSync(path.join(root, 'etc/group'), 'mysql:x:999:\n');
    for (const dir of ['var/lib/mysql', 'run/mysqld', 'usr/local/bin']) mkdirSync(path.join(root, dir), { recursive: true });
    const entrypoint = path.join(root, 'usr/local/bin/docker-entrypoint.sh');
    writeFileSync(entrypoint, ENTRYPOINT);
    chmodSync(entrypoint, 0o755);
    importRoot(root, tag, [
      'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin',
      'ENV TZ=UTC',
      'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
      'CMD ["mariadbd"]',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return tag;
}

/** The host's client against a server on 127.0.0.1:port with a password; rows as tab-separated text, or the failure. */
export function mariadbOnPort(o: { port: number; user: string; password: string; database: string; sql: string }): { ok: boolean; out: string } {
  const client = installedMariadb();
  if ('missing' in client) return { ok: false, out: client.missing };
  const result = spawnSync(
    client.client,
    ['--no-defaults', '--protocol=TCP', '--host=127.0.0.1', `--port=${o.port}`, `--user=${o.user}`, '--connect-timeout=5', '--batch', '--skip-column-names', '--default-character-set=utf8mb4', '-e', o.sql, o.database],
    { encoding: 'utf8', env: { ...process.env, MYSQL_PWD: o.password }, timeout: 30_000 },
  );
  return { ok: result.status === 0, out: result.status === 0 ? result.stdout : `${result.stderr}${result.error?.message ?? ''}` };
}

/** Waits until the server answers a real query as this user. */
export async function waitForMariadb(o: { port: number; user: string; password: string; database: string; timeoutMs?: number }): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  let last = '';
  while (Date.now() < deadline) {
    const answer = mariadbOnPort({ ...o, sql: 'SELECT 1' });
    if (answer.ok && answer.out.trim() === '1') return;
    last = answer.out.trim();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`MariaDB on 127.0.0.1:${o.port} did not answer within ${o.timeoutMs ?? 60_000} ms: ${last}`);
}
