// Starts a throwaway PostgreSQL server for a test: its own cluster in a temp
// folder, on 127.0.0.1 and a free port, unix socket in the same folder.
//
//   const pg = await startPostgres();   // throws PostgresUnavailableError → skip
//   t.after(() => pg.stop());
//
// PostgreSQL refuses to run as root, so as root the cluster belongs to the
// `postgres` user (or `nobody`) and its tools run through `runuser`.
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, realpathSync, chownSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chooseServiceUser, describeExecError, findFreePort, tail } from './db-server.js';

const run = promisify(execFile);

export interface RunningPostgres {
  /** Connection URL for the superuser `postgres` (trust auth, no password) to database `postgres`. */
  url: string;
  host: '127.0.0.1';
  port: number;
  user: 'postgres';
  /** Folder of the server's unix socket (usable as `host` by libpq tools). */
  socketDir: string;
  /** Folder of this server's own binaries: psql, pg_dump, pg_restore … of the same version. */
  binDir: string;
  /** Runs a server binary (psql, pg_dump, createdb …) as the cluster's OS user; returns stdout. */
  runTool(tool: string, args: string[]): Promise<string>;
  /** Stops the server and removes its folder; safe to call more than once. */
  stop(): Promise<void>;
}

/** PostgreSQL cannot be started on this machine (no binaries, no way to drop root); tests skip. */
export class PostgresUnavailableError extends Error {
  override name = 'PostgresUnavailableError';
}

const START_ATTEMPTS = 3;

export async function startPostgres(): Promise<RunningPostgres> {
  const binDir = findPostgresBinDir();
  if (!binDir) throw new PostgresUnavailableError('initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin');
  const runAs = await chooseOsUser();

  const dir = mkdtempSync(path.join(os.tmpdir(), 'slipway-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  let cleanupOnFailure = true;
  try {
    if (runAs) {
      chownSync(dir, runAs.uid, runAs.gid);
      const probe = spawnSync('runuser', ['-u', runAs.name, '--', 'test', '-w', dir]);
      if (probe.status !== 0) {
        throw new PostgresUnavailableError(`user ${runAs.name} cannot write ${dir} (is a parent folder of os.tmpdir() closed to other users?)`);
      }
    }
    const tool = (name: string, args: string[]) => {
      const file = path.join(binDir, name);
      const [command, commandArgs] = runAs ? ['runuser', ['-u', runAs.name, '--', file, ...args]] : [file, args];
      return run(command, commandArgs, { cwd: dir, maxBuffer: 64 * 1024 * 1024 }).then((result) => result.stdout);
    };

    await tool('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '-N']).catch((err) => {
      throw new Error(`initdb failed: ${describeExecError(err)}`);
    });

    let port = 0;
    let lastError: unknown;
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      port = await findFreePort();
      // pg_ctl hands -o to a shell: the temp folder path has no spaces or quotes.
      const serverOptions = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
      try {
        await tool('pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start']);
        lastError = undefined;
        break;
      } catch (err) {
        // Usually the port was taken between probing and binding: try another.
        lastError = err;
      }
    }
    if (lastError) throw new Error(`pg_ctl start failed ${START_ATTEMPTS} times: ${describeExecError(lastError)}\n${tail(logFile)}`);

    // If the test process dies without calling stop(), do not leave a server behind.
    const stopOnExit = () => {
      const args = ['-D', dataDir, '-m', 'immediate', 'stop'];
      const file = path.join(binDir, 'pg_ctl');
      if (runAs) spawnSync('runuser', ['-u', runAs.name, '--', file, ...args], { cwd: dir });
      else spawnSync(file, args, { cwd: dir });
      rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', stopOnExit);
    cleanupOnFailure = false;

    let stopping: Promise<void> | undefined;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      host: '127.0.0.1',
      port,
      user: 'postgres',
      socketDir: dir,
      binDir,
      runTool: (name, args) =>
        tool(name, args).catch((err) => {
          throw new Error(`${name} failed: ${describeExecError(err)}`);
        }),
      stop() {
        stopping ??= (async () => {
          process.removeListener('exit', stopOnExit);
          try {
            await tool('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        })();
        return stopping;
      },
    };
  } finally {
    if (cleanupOnFailure) {
      // A half-started server (initdb ran, start timed out) must not outlive the attempt.
      if (existsSync(path.join(dataDir, 'postmaster.pid'))) {
        const args = ['-D', dataDir, '-m', 'immediate', 'stop'];
        const file = path.join(binDir, 'pg_ctl');
        if (runAs) spawnSync('runuser', ['-u', runAs.name, '--', file, ...args], { cwd: dir });
        else spawnSync(file, args, { cwd: dir });
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** The folder holding initdb and pg_ctl: from PATH first, else the newest Debian install. */
function findPostgresBinDir(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const initdb = path.join(dir, 'initdb');
    if (isExecutable(initdb) && isExecutable(path.join(dir, 'pg_ctl'))) return path.dirname(realpathSync(initdb));
  }
  const debianRoot = '/usr/lib/postgresql';
  const versions = existsSync(debianRoot)
    ? readdirSync(debianRoot)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const dir = path.join(debianRoot, version, 'bin');
    if (isExecutable(path.join(dir, 'initdb')) && isExecutable(path.join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** As root: an unprivileged user to own the cluster. Otherwise undefined (run as ourselves). */
async function chooseOsUser(): Promise<{ name: string; uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  if (spawnSync('runuser', ['--help']).error) {
    throw new PostgresUnavailableError('running as root and `runuser` is missing, so PostgreSQL cannot be started as another user');
  }
  const user = await chooseServiceUser(['postgres', 'nobody']);
  if (!user) throw new PostgresUnavailableError('running as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL');
  return user;
}
