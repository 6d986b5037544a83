/**
 * The scrub of a production → staging copy: the author's SQL (anonymise e-mails,
 * drop tokens…) run against the staging database after the restore. PostgreSQL and
 * SQLite run it in one transaction; MariaDB/MySQL through the client, statement by
 * statement (its DDL cannot be rolled back).
 */
import { SlipwayError } from '../errors.js';
import { runMysqlSqlFile } from './engines/mysql.js';
import { runPostgresSqlFile } from './engines/postgres.js';
import { runSqliteSqlFile } from './engines/sqlite.js';
import type { DataEnv, DataItem } from './types.js';

export async function runScrubSql(o: { item: DataItem; env: DataEnv; sqlFile: string }): Promise<void> {
  const { item } = o;
  if (item.engine === 'postgres') return runPostgresSqlFile({ item, env: o.env, sqlFile: o.sqlFile });
  if (item.engine === 'mysql') return runMysqlSqlFile({ item, env: o.env, sqlFile: o.sqlFile });
  if (item.engine === 'sqlite') return runSqliteSqlFile({ item, sqlFile: o.sqlFile });
  throw new SlipwayError('BACKUP_SCRUB_NOT_SQL', `${item.name} is a folder: a scrub SQL file applies to databases only.`, {
    hint: 'Pass the database to scrub, or remove files from the folder with a hook.',
    exitCode: 2,
  });
}
