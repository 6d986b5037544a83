/**
 * A PostgreSQL image for the accessory tests, made from this machine's own PostgreSQL (no
 * registry is reachable here): the server binaries of /usr/lib/postgresql/<N>, its share
 * folder, the libraries `ldd` lists, and an entrypoint that behaves like the official
 * image's: an empty data folder is initdb'ed as the `postgres` user with POSTGRES_USER,
 * POSTGRES_PASSWORD and POSTGRES_DB, then the server runs listening on 127.0.0.1 (the
 * container uses host networking; the port is `-p <port>` in its command, or PGPORT).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readdirSync, rmSync, writeFileSync, appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { importRoot, minimalRoot } from './docker.js';

/** Tag of the image made from PostgreSQL `major` of this machine. */
export function postgresImageTag(major: number): string {
  return `slipway-test/postgres:${major}`;
}

/** The newest PostgreSQL major installed under /usr/lib/postgresql with a server and initdb, or null. */
export function installedPostgresMajor(): number | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const majors = readdirSync(base)
    .filter((name) => /^\d+$/.test(name) && existsSync(path.join(base, name, 'bin', 'postgres')) && existsSync(path.join(base, name, 'bin', 'initdb')))
    .map(Number)
    .sort((a, b) => b - a);
  return majors[0] ?? null;
}

// The official image's behaviour, reduced to what the tests use. It runs as root only to
// hand the data folder (a fresh named volume, or a bind-mounted host folder) to `postgres`,
// then drops to that user: the server refuses to run as root.
const ENTRYPOINT = `#!/bin/sh
set -e
if [ "\${1#-}" != "$1" ]; then set -- postgres "$@"; fi
[ "$1" = postgres ] || exec "$@"
shift
PGDATA=\${PGDATA:-/var/lib/postgresql/data}
export PGDATA
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ]; then echo "POSTGRES_PASSWORD must be set" >&2; exit 1; fi
  user=\${POSTGRES_USER:-postgres}
  db=\${POSTGRES_DB:-$user}
  pwfile=/tmp/.pw.$$
  (umask 077; printf '%s\\n' "$POSTGRES_PASSWORD" > "$pwfile")
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
  rm -f "$pwfile"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \\"$db\\"" | postgres --single -D "$PGDATA" -c jit=off postgres >/dev/null
  fi
  echo "initialized $PGDATA for user $user, database $db"
fi
# The official image stops the server with SIGINT (its STOPSIGNAL: a fast shutdown), which
# \`docker import\` cannot set; SIGTERM alone would wait for every client to disconnect.
postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -c jit=off "$@" &
pid=$!
trap 'kill -INT $pid' TERM INT
# wait returns early when the trap runs: wait again until the server itself has exited.
while :; do
  wait $pid && exit 0
  status=$?
  kill -0 $pid 2>/dev/null || exit $status
done
`;

/**
 * `slipway-test/postgres:<major>` from this machine's PostgreSQL, imported once per engine
 * (found again by tag). Throws when PostgreSQL is not installed here.
 */
export function ensurePostgresImage(major = installedPostgresMajor()): string {
  if (major === null) throw new Error('no PostgreSQL server under /usr/lib/postgresql/<N>/bin to make an image from');
  const tag = postgresImageTag(major);
  if (spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0) return tag;
  const prefix = `/usr/lib/postgresql/${major}`;
  const bin = ['postgres', 'initdb'].map((name) => path.join(prefix, 'bin', name));
  // Modules the server loads itself (plpgsql, text search dictionaries, encodings); JIT is off, so not its 30 MB.
  const modules = readdirSync(path.join(prefix, 'lib'))
    .filter((name) => name.endsWith('.so') && !name.startsWith('llvmjit'))
    .map((name) => path.join(prefix, 'lib', name));
  const tools = ['/usr/bin/id', '/usr/bin/mkdir', '/usr/bin/chown', '/usr/bin/chmod', '/usr/bin/rm', '/usr/bin/setpriv'];
  const root = minimalRoot([...bin, ...modules, ...tools]);
  try {
    for (const dir of [`/usr/share/postgresql/${major}`, '/usr/share/zoneinfo']) {
      cpSync(dir, path.join(root, dir), { recursive: true, dereference: true });
    }
    // minimalRoot's mkdir went through the umask: /tmp must be writable by postgres too.
    chmodSync(path.join(root, 'tmp'), 0o1777);
    appendFileSync(path.join(root, 'etc/passwd'), 'postgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n');
    appendFileSync(path.join(root, 'etc/group'), 'postgres:x:999:\n');
    for (const dir of ['var/lib/postgresql/data', 'var/run/postgresql', 'usr/local/bin']) mkdirSync(path.join(root, dir), { recursive: true });
    const entrypoint = path.join(root, 'usr/local/bin/docker-entrypoint.sh');
    writeFileSync(entrypoint, ENTRYPOINT);
    chmodSync(entrypoint, 0o755);
    importRoot(root, tag, [
      `ENV PATH=${prefix}/bin:/usr/local/bin:/usr/bin:/bin`,
      'ENV PGDATA=/var/lib/postgresql/data',
      'ENV TZ=UTC',
      'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]',
      'CMD ["postgres"]',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return tag;
}

/** The host's psql against a server on 127.0.0.1:port with a password; rows as text, or the failure. */
export function psqlOnPort(o: { port: number; user: string; password: string; database: string; sql: string }): { ok: boolean; out: string } {
  const result = spawnSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(o.port), '-U', o.user, '-d', o.database, '-c', o.sql], {
    encoding: 'utf8',
    env: { ...process.env, PGPASSWORD: o.password, PGCONNECT_TIMEOUT: '5' },
    timeout: 30_000,
  });
  return { ok: result.status === 0, out: result.status === 0 ? result.stdout : `${result.stderr}${result.error?.message ?? ''}` };
}

/** Waits until the server answers a real query (initdb takes a few seconds on a first start). */
export async function waitForPostgres(o: { port: number; user: string; password: string; database: string; timeoutMs?: number }): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  let last = '';
  while (Date.now() < deadline) {
    const answer = psqlOnPort({ ...o, sql: 'SELECT 1' });
    if (answer.ok && answer.out.trim() === '1') return;
    last = answer.out.trim();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`PostgreSQL on 127.0.0.1:${o.port} did not answer within ${o.timeoutMs ?? 60_000} ms: ${last}`);
}
