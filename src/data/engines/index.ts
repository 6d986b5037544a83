import type { BackupEngine, DataItem, EngineName } from '../types.js';
import { filesEngine } from './files.js';
import { mysqlEngine } from './mysql.js';
import { postgresEngine } from './postgres.js';
import { sqliteEngine } from './sqlite.js';

const ENGINES: Record<EngineName, BackupEngine<never>> = {
  postgres: postgresEngine,
  mysql: mysqlEngine,
  sqlite: sqliteEngine,
  files: filesEngine,
};

/** The engine that backs up and restores this item. */
export function engineFor<I extends DataItem>(item: I): BackupEngine<I> {
  return ENGINES[item.engine] as unknown as BackupEngine<I>;
}

export function engineSuffix(item: DataItem): string {
  return ENGINES[item.engine].fileSuffix;
}
