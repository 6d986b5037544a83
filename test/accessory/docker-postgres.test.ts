// The PostgreSQL image the accessory tests use (test/helpers/docker-postgres.ts), checked on its
// own with a real connection: an empty volume is initialised like the official image does it
// (POSTGRES_USER is a superuser with POSTGRES_PASSWORD, POSTGRES_DB exists), the server runs as
// `postgres`, not root, listens on 127.0.0.1 and the port its command names, refuses a wrong
// password, and shuts down cleanly (exit 0) on `docker stop`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { freePort } from '../helpers/free-port.js';
import { requireDocker } from '../helpers/docker.js';
import { ensurePostgresImage, installedPostgresMajor, psqlOnPort, waitForPostgres } from '../helpers/docker-postgres.js';

function docker(args: string[]): { code: number | null; out: string } {
  const result = spawnSync('docker', args, { encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, out: `${result.stdout}${result.stderr}`.trim() };
}

test('slipway-test/postgres initialises an empty volume and answers a real connection as the named user', { timeout: 180_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const major = installedPostgresMajor();
  if (major === null) return t.skip('needs PostgreSQL server binaries under /usr/lib/postgresql/<N>/bin');
  const image = ensurePostgresImage(major);
  const name = `slipway-test-pg-${randomBytes(4).toString('hex')}`;
  t.after(() => {
    docker(['rm', '-f', name]);
    docker(['volume', 'rm', '-f', name]);
  });
  const port = await freePort();
  const password = 'img-Pw-6e02b1';
  const run = docker(['run', '-d', '--name', name, '--network', 'host', '-v', `${name}:/var/lib/postgresql/data`, '-e', `POSTGRES_PASSWORD=${password}`, '-e', 'POSTGRES_USER=shop', '-e', 'POSTGRES_DB=orders', image, 'postgres', '-p', String(port)]);
  assert.equal(run.code, 0, run.out);
  await waitForPostgres({ port, user: 'shop', password, database: 'orders' });

  const connect = (o: { user?: string; pw?: string; database?: string; sql: string }) =>
    psqlOnPort({ port, user: o.user ?? 'shop', password: o.pw ?? password, database: o.database ?? 'orders', sql: o.sql });
  assert.equal(connect({ sql: 'SELECT current_user || \'@\' || current_database()' }).out.trim(), 'shop@orders');
  assert.equal(connect({ sql: 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user' }).out.trim(), 't', 'POSTGRES_USER is a superuser (it may create the scratch database of a verify)');
  assert.equal(connect({ sql: 'SHOW server_version_num' }).out.trim().slice(0, String(major).length), String(major));
  assert.equal(connect({ sql: 'SHOW listen_addresses' }).out.trim(), '127.0.0.1');
  const wrong = connect({ pw: 'not-the-password', sql: 'SELECT 1' });
  assert.equal(wrong.ok, false);
  assert.match(wrong.out, /password authentication failed for user "shop"/);

  // uid 999 is `postgres` in the image; the entrypoint starts as root only to hand it the data folder.
  // By number: on the host, uid 999 may have a name of its own (another package's user). (The engine needs the pid column to pick the container's processes.)
  const processes = docker(['top', name, '-eo', 'pid,uid,args']).out.split('\n').slice(1).filter((line) => /postgres/.test(line));
  assert.ok(processes.length > 0, 'the server runs');
  assert.deepEqual([...new Set(processes.map((line) => line.trim().split(/\s+/)[1]))], ['999'], `the server runs as postgres, not root:\n${processes.join('\n')}`);

  const stopped = docker(['stop', '-t', '20', name]);
  assert.equal(stopped.code, 0, stopped.out);
  assert.equal(docker(['inspect', name, '--format', '{{.State.ExitCode}}']).out, '0', 'a clean, fast shutdown');
  assert.match(docker(['logs', name]).out, /database system is shut down/);
});
