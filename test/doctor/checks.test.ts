/** Every doctor check, with its failing case first, against real folders, sockets, listeners and servers. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import {
  checkAgent,
  checkClockSkew,
  checkDatabaseTools,
  checkDiskSpace,
  checkEnvFile,
  checkHostFileModes,
  checkHostRoot,
  checkNodeVersion,
  checkProxyPort,
  checkOffsiteStore,
  checkStore,
  majorVersionOf,
  postgresEnv,
  type DoctorCheck,
} from '../../src/doctor/checks.js';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { openLedger } from '../../src/host/ledger.js';
import { PostgresUnavailableError, startPostgres } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp-dir.js';

function assertFails(check: DoctorCheck, detail: RegExp, fix: RegExp): void {
  assert.equal(check.status, 'fail', JSON.stringify(check));
  assert.equal(check.ok, false);
  assert.match(check.detail, detail);
  assert.match(check.fix ?? '', fix, 'a failing check says how to fix it');
}

function listen(server: net.Server | http.Server, where: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => resolve());
  });
}

test('disk space: fails below the floor, warns below 1 GiB by default, else ok', async (t) => {
  const dir = tempDir(t);
  assertFails(await checkDiskSpace({ dir, failBelowBytes: Number.MAX_SAFE_INTEGER }), /free under .*updates and backups will fail/, /slipway prune/);
  const warned = await checkDiskSpace({ dir, warnBelowBytes: Number.MAX_SAFE_INTEGER, failBelowBytes: 0 });
  assert.equal(warned.status, 'warn');
  assert.equal(warned.ok, true);
  assert.ok(warned.fix);
  // The host root need not exist yet: the space is measured where it would be.
  const ok = await checkDiskSpace({ dir: path.join(dir, 'not', 'yet'), warnBelowBytes: 1, failBelowBytes: 0 });
  assert.equal(ok.status, 'ok', ok.detail);
});

test('node: older than 20 fails', () => {
  assertFails(checkNodeVersion('18.19.0'), /Node 18\.19\.0; slipway needs 20/, /install Node 20/);
  assert.equal(checkNodeVersion('v20.0.0').status, 'ok');
  assert.equal(checkNodeVersion('22.11.0').status, 'ok');
  assert.equal(checkNodeVersion().status, 'ok', 'the Node running this test');
});

test('host root: a file where the folder should be fails, at the root or above it', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'root');
  fs.writeFileSync(file, 'not a folder');
  assertFails(await checkHostRoot(file), /root is a file, not a folder$/, /move .* aside|environments\.<env>\.root/);
  assertFails(await checkHostRoot(path.join(file, 'production')), /is a file, not a folder \(the host root .* would be inside it\)/, /environments\.<env>\.root/);
  assert.equal((await checkHostRoot(dir)).status, 'ok');
  const later = await checkHostRoot(path.join(dir, 'hosts', 'tiny'));
  assert.equal(later.status, 'ok');
  assert.match(later.detail, /does not exist yet/);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['root'], 'the write probe leaves nothing behind');
});

test('host root: a read-only mount fails even for root', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to bind-mount');
  const dir = tempDir(t);
  const source = path.join(dir, 'source');
  const root = path.join(dir, 'readonly');
  fs.mkdirSync(source);
  fs.mkdirSync(root);
  try {
    execFileSync('mount', ['--bind', '-o', 'ro', source, root], { stdio: 'pipe' });
  } catch {
    return t.skip('bind mounts are not allowed here');
  }
  try {
    assertFails(await checkHostRoot(root), /cannot write in .*readonly: EROFS/, /not on a read-only mount/);
  } finally {
    execFileSync('umount', [root]);
  }
});

test('env file: readable by others fails; 0600 or absent is ok', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, '.env');
  assert.equal((await checkEnvFile(file)).status, 'ok', 'absent');
  fs.writeFileSync(file, 'A=1\n');
  fs.chmodSync(file, 0o644);
  assertFails(await checkEnvFile(file), /mode 644: other users can read/, new RegExp(`chmod 600 ${file}`));
  fs.chmodSync(file, 0o600);
  assert.equal((await checkEnvFile(file)).status, 'ok');
});

test('file modes: a host root or a ledger other users can read fails, naming each file and the chmod', async (t) => {
  const root = path.join(tempDir(t), 'host');
  const layout = hostLayout(root);
  assert.equal((await checkHostFileModes({ root, ledgerFile: layout.ledgerFile })).status, 'ok', 'no root yet');

  fs.mkdirSync(root, { mode: 0o755 });
  fs.chmodSync(root, 0o755);
  for (const file of [layout.ledgerFile, `${layout.ledgerFile}-wal`, `${layout.ledgerFile}-shm`]) fs.writeFileSync(file, '', { mode: 0o644 });
  fs.chmodSync(layout.ledgerFile, 0o644);
  fs.chmodSync(`${layout.ledgerFile}-wal`, 0o640);
  fs.chmodSync(`${layout.ledgerFile}-shm`, 0o600);
  const loose = await checkHostFileModes({ root, ledgerFile: layout.ledgerFile });
  assertFails(loose, /host root .*\/host is mode 755: other users can look inside/, new RegExp(`chmod 750 ${root}`));
  assert.match(loose.detail, /ledger\.db is mode 644: other users can read the deployment history/);
  assert.match(loose.detail, /ledger\.db-wal is mode 640/);
  assert.doesNotMatch(loose.detail, /-shm/, 'a file already 600 is not listed');
  assert.match(loose.fix ?? '', new RegExp(`chmod 600 ${layout.ledgerFile} ${layout.ledgerFile}-wal`));

  fs.chmodSync(root, 0o770);
  assertFails(await checkHostFileModes({ root, ledgerFile: layout.ledgerFile }), /mode 770: its group can change it/, /chmod 750/);

  // What the agent makes: the layout and a ledger that was written to.
  fs.chmodSync(root, 0o755);
  for (const file of [layout.ledgerFile, `${layout.ledgerFile}-wal`, `${layout.ledgerFile}-shm`]) fs.rmSync(file);
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  ledger.setCurrent({ currentId: 'id-one', previousId: null });
  try {
    const fixed = await checkHostFileModes({ root, ledgerFile: layout.ledgerFile });
    assert.equal(fixed.status, 'ok', JSON.stringify(fixed));
    assert.match(fixed.detail, /is mode 750, the ledger 600/);
  } finally {
    ledger.close();
  }
});

test('database tools: missing from PATH fails, per engine; sqlite needs none', async (t) => {
  const emptyPath = tempDir(t);
  const [postgres] = await checkDatabaseTools({ databases: [{ name: 'main', engine: 'postgres', urlEnv: 'DATABASE_URL' }], values: {}, pathEnv: emptyPath });
  assertFails(postgres!, /pg_dump, pg_restore, psql not found on PATH/, /postgresql-client/);
  const [mysql] = await checkDatabaseTools({ databases: [{ name: 'main', engine: 'mysql', urlEnv: 'DATABASE_URL' }], values: {}, pathEnv: emptyPath });
  assertFails(mysql!, /mariadb-dump or mysqldump, mariadb or mysql not found on PATH/, /mariadb-client/);
  const [sqlite] = await checkDatabaseTools({ databases: [{ name: 'main', engine: 'sqlite', path: 'data/app.db' }], values: {}, pathEnv: emptyPath });
  assert.equal(sqlite!.status, 'ok');
  const [none] = await checkDatabaseTools({ databases: [], values: {}, pathEnv: emptyPath });
  assert.equal(none!.status, 'skip');
});

test('database tools: pg_dump older than the server fails; the server\'s own tools pass', async (t) => {
  let pg;
  try {
    pg = await startPostgres();
  } catch (error) {
    if (error instanceof PostgresUnavailableError) return t.skip(error.message);
    throw error;
  }
  t.after(() => pg.stop());
  const databases = [{ name: 'main', engine: 'postgres' as const, urlEnv: 'DATABASE_URL' }];

  const [matching] = await checkDatabaseTools({ databases, values: { DATABASE_URL: pg.url }, pathEnv: pg.binDir });
  assert.equal(matching!.status, 'ok', matching!.detail);
  const serverMajor = Number(/pg_dump (\d+)/.exec(matching!.detail)?.[1]);
  assert.ok(serverMajor >= 10, matching!.detail);

  // An old pg_dump first on PATH, as an old distribution package would leave it.
  const oldTools = tempDir(t);
  fs.writeFileSync(path.join(oldTools, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\n', { mode: 0o755 });
  const [old] = await checkDatabaseTools({ databases, values: { DATABASE_URL: pg.url }, pathEnv: [oldTools, pg.binDir].join(path.delimiter) });
  assertFails(old!, new RegExp(`server runs PostgreSQL ${serverMajor}, older tools: pg_dump 9`), /client tools of the server's major version or newer/);

  // A URL nobody answers: the versions cannot be compared, which is a warning, not a failure.
  const closed = net.createServer();
  await listen(closed, { host: '127.0.0.1', port: 0 });
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const [unreachable] = await checkDatabaseTools({ databases, values: { DATABASE_URL: `postgres://app:pw@127.0.0.1:${port}/app` }, pathEnv: pg.binDir });
  assert.equal(unreachable!.status, 'warn', unreachable!.detail);
  assert.match(unreachable!.detail, /cannot ask the server its version/);
  assert.doesNotMatch(unreachable!.detail, /:pw@/, 'no password in the output');
});

test('version parsing of client tools, and credentials kept off the command line', () => {
  assert.equal(majorVersionOf('pg_dump (PostgreSQL) 15.4 (Debian 15.4-2.pgdg120+1)'), 15);
  assert.equal(majorVersionOf('psql (PostgreSQL) 9.6.24'), 9);
  assert.equal(majorVersionOf('mariadb-dump  Ver 10.11.6-MariaDB'), 10);
  assert.equal(majorVersionOf(''), null);
  assert.deepEqual(postgresEnv('postgres://app:p%40ss@db.example:6543/notes?sslmode=require'), {
    PGHOST: 'db.example',
    PGPORT: '6543',
    PGUSER: 'app',
    PGPASSWORD: 'p@ss',
    PGDATABASE: 'notes',
    PGSSLMODE: 'require',
    PGCONNECT_TIMEOUT: '5',
  });
});

test('clock: a store whose clock is minutes off fails; a local store is skipped', async (t) => {
  let offsetMs = 10 * 60_000;
  const server = http.createServer((_req, res) => {
    res.setHeader('Date', new Date(Date.now() + offsetMs).toUTCString());
    res.end();
  });
  await listen(server, { host: '127.0.0.1', port: 0 });
  t.after(() => new Promise((r) => server.close(r)));
  const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const store = { type: 's3' as const, bucket: 'backups', endpoint, forcePathStyle: true };
  const skewed = await checkClockSkew({ store });
  assertFails(skewed, /clock is \d+ s behind/, /NTP/);
  const seconds = Number(/(\d+) s behind/.exec(skewed.detail)?.[1]);
  assert.ok(seconds >= 595 && seconds <= 605, skewed.detail);
  offsetMs = 0;
  assert.equal((await checkClockSkew({ store })).status, 'ok');
  const local = await checkClockSkew({ store: { type: 'local' } });
  assert.equal(local.status, 'skip');
  assert.match(local.detail, /local folder/);
});

test('proxy port: held by another program fails; free is ok', async (t) => {
  const layout = hostLayout(tempDir(t));
  const other = net.createServer();
  await listen(other, { host: '127.0.0.1', port: 0 });
  t.after(() => new Promise((r) => other.close(r)));
  const port = (other.address() as net.AddressInfo).port;
  assertFails(await checkProxyPort({ bind: '127.0.0.1', port, layout, environment: 'production' }), new RegExp(`127\\.0\\.0\\.1:${port} is in use by another program`), /ss -ltnp|environments\.production\.port/);
  const free = net.createServer();
  await listen(free, { host: '127.0.0.1', port: 0 });
  const freePort = (free.address() as net.AddressInfo).port;
  await new Promise((r) => free.close(r));
  assert.equal((await checkProxyPort({ bind: '127.0.0.1', port: freePort, layout, environment: 'production' })).status, 'ok');
});

test('agent: something else on its socket fails; a live agent pid with no socket fails; not needed yet is skipped', async (t) => {
  const layout = hostLayout(tempDir(t));
  fs.mkdirSync(layout.runDir, { recursive: true });

  const impostor = http.createServer((_req, res) => res.end('hello'));
  await listen(impostor, { path: layout.agentSocket } as net.ListenOptions);
  assertFails(await checkAgent({ layout, environment: 'production', shouldRun: true }), /something answers on .* but it is not a slipway agent/, /slipway agent --env production/);
  await new Promise((r) => impostor.close(r));

  // agent.json names a live process (a stand-in child), but nothing answers on the socket.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  fs.writeFileSync(layout.agentInfoFile, JSON.stringify({ pid: child.pid, socket: layout.agentSocket }));
  assertFails(await checkAgent({ layout, environment: 'production', shouldRun: false }), new RegExp(`pid ${child.pid} is alive but nothing answers`), new RegExp(`kill ${child.pid}`));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  assertFails(await checkAgent({ layout, environment: 'production', shouldRun: true }), /not running: .* the app is not served/, /slipway agent --env production/);
  assert.equal((await checkAgent({ layout, environment: 'production', shouldRun: false })).status, 'skip');
});

test('store: a local store path that is not a folder fails; an empty one is reachable', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'store-file');
  fs.writeFileSync(file, '');
  assertFails(await checkStore({ store: { type: 'local', path: file }, projectDir: dir, app: 'tiny' }), /cannot list the store: ENOTDIR: .*store-file is not a folder/, /store\.path/);
  assertFails(await checkStore({ store: { type: 'local', path: path.join(file, 'below') }, projectDir: dir, app: 'tiny' }), /ENOTDIR/, /store\.path/);
  const absent = await checkStore({ store: { type: 'local', path: 'store' }, projectDir: dir, app: 'tiny' });
  assert.equal(absent.status, 'ok');
  assert.match(absent.detail, /does not exist yet/);
  fs.mkdirSync(path.join(dir, 'store'));
  const ok = await checkStore({ store: { type: 'local', path: 'store' }, projectDir: dir, app: 'tiny' });
  assert.equal(ok.status, 'ok');
  assert.match(ok.detail, /reachable, no releases yet/);
});

test('offsite store: its own check, counting this environment\'s copies; an unreadable one fails with its own hint', async (t) => {
  const dir = tempDir(t);
  const copies = path.join(dir, 'offsite', 'tiny', 'backups', 'production');
  for (const id of ['20261201T000000Z-aaaaaa', '20261202T000000Z-bbbbbb']) {
    fs.mkdirSync(path.join(copies, id), { recursive: true });
    fs.writeFileSync(path.join(copies, id, 'index.json'), '{}');
  }
  // Another environment's copy is not this one's.
  fs.mkdirSync(path.join(dir, 'offsite', 'tiny', 'backups', 'staging', '20261202T000000Z-cccccc'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'offsite', 'tiny', 'backups', 'staging', '20261202T000000Z-cccccc', 'index.json'), '{}');
  const ok = await checkOffsiteStore({ store: { type: 'local', path: 'offsite' }, projectDir: dir, app: 'tiny', environment: 'production' });
  assert.equal(ok.name, 'offsite store');
  assert.equal(ok.status, 'ok');
  assert.match(ok.detail, /: 2 off-site copies$/);
  const none = await checkOffsiteStore({ store: { type: 'local', path: 'offsite' }, projectDir: dir, app: 'tiny', environment: 'demo' });
  assert.match(none.detail, /reachable, no off-site copies yet/);
  const file = path.join(dir, 'not-a-folder');
  fs.writeFileSync(file, '');
  assertFails(await checkOffsiteStore({ store: { type: 'local', path: file }, projectDir: dir, app: 'tiny', environment: 'production' }), /cannot list the offsite store: ENOTDIR/, /offsite_store\.path/);
});
