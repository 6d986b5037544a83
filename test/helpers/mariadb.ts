// Starts a throwaway MariaDB server for a test: its own data folder in a temp folder,
// on 127.0.0.1 and a free port, unix socket in the same folder, and an application
// user with a real password (so credential handling is exercised, not bypassed).
//
//   const db = await startMariadb();   // throws MariadbUnavailableError → skip
//   t.after(() => db.stop());
//
// mariadbd refuses to run as root unless told which user to become: as root the data
// folder belongs to the `mysql` user (or `nobody`) and the server runs with --user.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chooseServiceUser, describeExecError, findFreePort, tail } from './db-server.js';

const run = promisify(execFile);

export interface RunningMariadb {
  /** mysql://app:<password>@127.0.0.1:<port>/app — the application user (password auth), database `app` */
  url: string;
  port: number;
  /** path of the server's unix socket */
  socket: string;
  user: 'app';
  password: string;
  database: 'app';
  /** Runs SQL as root over the socket (no password); returns stdout (tab-separated, no column names). */
  rootQuery(sql: string, database?: string): Promise<string>;
  /** Stops the server and removes its folder; safe to call more than once. */
  stop(): Promise<void>;
}

/** MariaDB cannot be started on this machine (binaries missing, no user to run as); tests skip. */
export class MariadbUnavailableError extends Error {
  override name = 'MariadbUnavailableError';
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/usr/libexec'];
const START_ATTEMPTS = 3;

/** The first of `names` found executable on PATH or in the usual system folders. */
export function findBinary(names: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const name of names) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export async function startMariadb(): Promise<RunningMariadb> {
  const server = findBinary(['mariadbd', 'mysqld']);
  const installDb = findBinary(['mariadb-install-db', 'mysql_install_db']);
  const client = findBinary(['mariadb', 'mysql']);
  if (!server || !installDb || !client) {
    throw new MariadbUnavailableError(`MariaDB binaries not found (mariadbd: ${server ?? 'missing'}, mariadb-install-db: ${installDb ?? 'missing'}, mariadb: ${client ?? 'missing'}); install mariadb-server`);
  }
  const runAs = await chooseOsUser();

  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-mariadb-'));
  const dataDir = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const errorLog = path.join(dir, 'error.log');
  const userArgs = runAs ? [`--user=${runAs.name}`] : [];
  let child: ChildProcess | undefined;
  let cleanupOnFailure = true;

  const killNow = () => {
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };

  try {
    if (runAs) chownSync(dir, runAs.uid, runAs.gid);
    await run(installDb, ['--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', ...userArgs], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err) => {
      throw new Error(`mariadb-install-db failed: ${describeExecError(err)}`);
    });

    let port = 0;
    let lastError = '';
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      port = await findFreePort();
      child = spawn(
        server,
        [
          '--no-defaults',
          `--datadir=${dataDir}`,
          `--socket=${socket}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--pid-file=${path.join(dir, 'mysqld.pid')}`,
          `--log-error=${errorLog}`,
          '--skip-name-resolve',
          '--innodb-buffer-pool-size=64M',
          '--innodb-flush-log-at-trx-commit=2',
          '--innodb-doublewrite=0',
          ...userArgs,
        ],
        { cwd: dir, stdio: 'ignore' },
      );
      if (await waitForServer(client, socket, child)) {
        lastError = '';
        break;
      }
      lastError = tail(errorLog);
      killNow();
      await new Promise((r) => setTimeout(r, 200));
    }
    if (lastError) throw new Error(`mariadbd did not start after ${START_ATTEMPTS} attempts:\n${lastError}`);

    const rootQuery = async (sql: string, database?: string) => {
      const args = ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '-e', sql];
      if (database) args.push(database);
      try {
        return (await run(client, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
      } catch (err) {
        throw new Error(`mariadb as root failed: ${describeExecError(err)}`);
      }
    };

    const password = `pw-${randomBytes(6).toString('hex')}@:/%`;
    const quoted = password.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    await rootQuery(
      [
        'CREATE DATABASE app CHARACTER SET utf8mb4',
        `CREATE USER 'app'@'%' IDENTIFIED BY '${quoted}'`,
        "GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'%'",
        // the scratch databases `slipway backup verify` restores into
        "GRANT ALL PRIVILEGES ON `slipway\\_verify\\_%`.* TO 'app'@'%'",
      ].join('; '),
    );

    process.once('exit', killNow);
    cleanupOnFailure = false;
    let stopping: Promise<void> | undefined;
    return {
      url: `mysql://app:${encodeURIComponent(password)}@127.0.0.1:${port}/app`,
      port,
      socket,
      user: 'app',
      password,
      database: 'app',
      rootQuery,
      stop() {
        stopping ??= (async () => {
          process.removeListener('exit', killNow);
          const proc = child!;
          if (proc.exitCode === null && proc.signalCode === null) {
            const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
            proc.kill('SIGTERM');
            const timer = setTimeout(killNow, 30_000);
            await exited;
            clearTimeout(timer);
          }
          rmSync(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } finally {
    if (cleanupOnFailure) {
      killNow();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Polls the socket until the server answers (true), or the server exits or 60 s pass (false). */
async function waitForServer(client: string, socket: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (existsSync(socket)) {
      const probe = spawnSync(client, ['--no-defaults', `--socket=${socket}`, '--user=root', '-e', 'SELECT 1'], { stdio: 'ignore', timeout: 10_000 });
      if (probe.status === 0) return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** As root: an unprivileged user to own the data folder. Otherwise undefined (run as ourselves). */
async function chooseOsUser(): Promise<{ name: string; uid: number; gid: number } | undefined> {
  const user = await chooseServiceUser(['mysql', 'nobody']);
  if (user === null) throw new MariadbUnavailableError('running as root and neither a `mysql` nor a `nobody` user exists to run MariaDB');
  return user;
}
