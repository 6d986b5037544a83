/**
 * The data layer's expected failures. Messages name the env variable that holds a
 * connection URL, never its value; tool output is redacted by SlipwayError itself.
 */
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { ConnectionUrl } from './connection-url.js';
import { isDiskFull, diskFullError } from './file-stream.js';
import { ToolExitError, lastLines } from './tool-process.js';

/**
 * BACKUP_NOT_FOUND: the id names no backup on this host. A usage error (exit code 2):
 * nothing was done. `environment` fills in the commands of the hint when known.
 */
export function backupNotFound(id: string, o: { environment?: string; cause?: unknown } = {}): SlipwayError {
  const env = o.environment ?? '<env>';
  return new SlipwayError('BACKUP_NOT_FOUND', `There is no backup ${id} on this host.`, {
    hint: `\`slipway backups ${env}\` lists the backups this host has; one only in the store comes back with \`slipway backup fetch ${env} ${id}\`.`,
    exitCode: 2,
    cause: o.cause,
  });
}

/**
 * BACKUP_NOTHING_CONFIGURED: a backup was asked of a release that declares no databases
 * or folders. Exit code 2: nothing was done. `version`: the release, when known.
 */
export function nothingConfiguredToBackUp(o: { version?: string | null } = {}): SlipwayError {
  return new SlipwayError('BACKUP_NOTHING_CONFIGURED', `${o.version || 'The release'} declares no databases or folders to back up.`, {
    hint: 'List them under `data:` in slipway.yml (databases and folders).',
    exitCode: 2,
  });
}

export function corruptBackup(file: string, why: string, cause?: unknown): SlipwayError {
  return new SlipwayError('BACKUP_CORRUPT', `The backup file ${path.basename(file)} is damaged: ${why}.`, {
    hint: 'Do not restore from this backup; use another one (`slipway backups`). Nothing was changed.',
    cause,
  });
}

interface DbContext {
  engine: 'PostgreSQL' | 'MariaDB/MySQL';
  conn: ConnectionUrl;
}

/** What a database tool's stderr says, as a SlipwayError that tells what to do. */
export function databaseToolError(o: DbContext & { error: unknown; action: string; file?: string }): SlipwayError {
  const { error, conn } = o;
  if (error instanceof SlipwayError) return error;
  if (isDiskFull(error) && o.file) return diskFullError(o.file, error);
  if (!(error instanceof ToolExitError)) {
    return new SlipwayError('BACKUP_TOOL_FAILED', `Could not ${o.action}: ${(error as Error).message}`, { cause: error });
  }
  const stderr = error.stderr;
  const where = `${conn.host || 'localhost'}${conn.port ? `:${conn.port}` : ''}`;
  if (/password authentication failed|no password supplied|Access denied for user|authentication failed|role "[^"]*" does not exist/i.test(stderr)) {
    return new SlipwayError('BACKUP_DB_AUTH', `${o.engine} refused the credentials in ${conn.urlEnv} (user "${conn.user}" at ${where}).`, {
      hint: `Check the user and password in ${conn.urlEnv} (the host's env file, shared/.env); percent-encode special characters in the password.`,
      cause: error,
    });
  }
  if (/database "[^"]*" does not exist|Unknown database/i.test(stderr)) {
    return new SlipwayError('BACKUP_DB_MISSING', `The database "${conn.database}" named in ${conn.urlEnv} does not exist on ${where}.`, {
      hint: `Create it, or correct the database name in ${conn.urlEnv}.`,
      cause: error,
    });
  }
  // A server that is starting, stopping or recovering is unreachable for now, like one that is down.
  if (
    /could not connect|Connection refused|could not translate host name|timeout expired|Can't connect|Unknown (MySQL|MariaDB) server host|No such file or directory/i.test(stderr) ||
    /the database system is (starting up|shutting down|not yet accepting connections|in recovery mode)|server closed the connection unexpectedly|Lost connection to (MySQL|MariaDB) server|server has gone away/i.test(stderr)
  ) {
    return new SlipwayError('BACKUP_DB_UNREACHABLE', `Cannot reach the ${o.engine} server named in ${conn.urlEnv} (${where}).`, {
      hint: `Check that the database server runs and that the host and port in ${conn.urlEnv} are right.`,
      details: [lastLines(stderr, 3)],
      cause: error,
    });
  }
  if (/lock timeout|could not obtain lock|Lock wait timeout/i.test(stderr)) {
    return new SlipwayError('BACKUP_DB_BUSY', `Could not ${o.action}: the database of ${conn.urlEnv} stayed locked by other sessions.`, {
      hint: 'Stop the app (or every other client of the database) before restoring, then try again.',
      details: [lastLines(stderr, 3)],
      cause: error,
    });
  }
  if (/permission denied|command denied|must be owner|insufficient privilege/i.test(stderr)) {
    return new SlipwayError('BACKUP_DB_PERMISSION', `The user "${conn.user}" of ${conn.urlEnv} lacks a privilege needed to ${o.action}.`, {
      hint: 'Grant the user ownership of (or all privileges on) the database, or use the owner\'s credentials.',
      details: [lastLines(stderr, 5)],
      cause: error,
    });
  }
  return new SlipwayError('BACKUP_TOOL_FAILED', `Could not ${o.action}: ${error.message.split('\n')[0]}`, {
    hint: 'The tool\'s last output is shown above; fix the cause and try again.',
    details: stderr.trim() ? lastLines(stderr, 10).split('\n') : [],
    cause: error,
  });
}
