/**
 * How old an environment's data is: from the newest successful data copy into it (its
 * age is that of the source's backup, not of the copy), else from its newest backup.
 * Shared by `data copies`, `status`, `promote` and the agent's dashboard.
 */
import { promises as fs } from 'node:fs';
import { DataAgeSchema } from './data-age-schema.js';
import type { HostLayout } from './layout.js';
import { openLedger, type BackupRecord, type DataCopyRecord, type Ledger } from './ledger.js';

export interface DataAge {
  /** where the data's time comes from */
  source: 'copy' | 'backup';
  /** ISO 8601: when the data was taken (the source's backup time, for a copy) */
  at: string;
  /** the copy's source environment, or this environment for its own backup */
  environment: string | null;
  backupId: string;
  /** set for a copy */
  copiedAt?: string;
  scrubbed?: boolean;
}

/** The newest successful copy, else the newest backup of `environment`; null when there is neither. */
export function dataAgeOf(ledger: Ledger, environment: string): DataAge | null {
  const [copy] = ledger.listDataCopies({ outcome: 'succeeded', limit: 1 });
  const [backup] = ledger.listBackups({ environment, limit: 1 });
  const fromCopy = copy?.backupCreatedAt && copy.backupId ? ageOfCopy(copy) : null;
  // A backup of this environment taken after the copy says no more about its data than the copy did: the copy wins.
  if (fromCopy) return fromCopy;
  return backup ? ageOfBackup(backup) : null;
}

/** The DataAge a host reported; null when it has none, or reported none readable (an older slipway prints no dataAge). */
export function parseDataAge(value: unknown): DataAge | null {
  const parsed = DataAgeSchema.safeParse(value);
  if (!parsed.success || Number.isNaN(Date.parse(parsed.data.at))) return null;
  const { copiedAt, scrubbed, ...rest } = parsed.data;
  return { ...rest, ...(copiedAt === undefined ? {} : { copiedAt }), ...(scrubbed === undefined ? {} : { scrubbed }) };
}

/**
 * An environment's data age from its hosts' (a fleet): the oldest data any host reports,
 * since no host's data is older than that; null when no host reports one.
 */
export function oldestDataAge(ages: readonly (DataAge | null | undefined)[]): DataAge | null {
  let oldest: DataAge | null = null;
  for (const age of ages) {
    if (age && (oldest === null || Date.parse(age.at) < Date.parse(oldest.at))) oldest = age;
  }
  return oldest;
}

/** dataAgeOf for a host on this machine, its ledger opened read-only; null when it has none yet. */
export async function dataAgeOfHost(layout: HostLayout, environment: string): Promise<DataAge | null> {
  if (!(await fs.stat(layout.ledgerFile).then(() => true, () => false))) return null;
  const ledger = openLedger(layout.ledgerFile, { readonly: true });
  try {
    return dataAgeOf(ledger, environment);
  } finally {
    ledger.close();
  }
}

/** `3 h 12 min old: a scrubbed copy of production's backup 20261202T…`, for `status <env>`. */
export function describeDataAge(age: DataAge | null, now: Date = new Date()): string {
  if (!age) return '-';
  const what = age.source === 'copy' ? `a${age.scrubbed ? ' scrubbed' : 'n UNSCRUBBED'} copy of ${age.environment ?? 'another environment'}'s backup ${age.backupId}` : `its newest backup ${age.backupId}`;
  return `${formatAge(age.at, now)} old: ${what}`;
}

/** `3 h 12 min (copy of production, scrubbed)`, `2 d 4 h (backup)`, `-`: for a table's column. */
export function describeDataAgeShort(age: DataAge | null, now: Date = new Date()): string {
  if (!age) return '-';
  return `${formatAge(age.at, now)}${age.source === 'copy' ? ` (copy of ${age.environment ?? 'another environment'}${age.scrubbed ? ', scrubbed' : ''})` : ' (backup)'}`;
}

function ageOfCopy(copy: DataCopyRecord): DataAge {
  return { source: 'copy', at: copy.backupCreatedAt!, environment: copy.sourceEnvironment, backupId: copy.backupId!, copiedAt: copy.finishedAt ?? copy.startedAt, scrubbed: copy.scrubbed };
}

function ageOfBackup(backup: BackupRecord): DataAge {
  return { source: 'backup', at: backup.createdAt, environment: backup.environment, backupId: backup.id };
}

/** `3 h 12 min`, `2 d 4 h`, `45 s`: how long ago `at` was, for tables. */
export function formatAge(at: string, now: Date = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** Whole seconds between `at` and now (never negative). */
export function ageSeconds(at: string, now: Date = new Date()): number {
  return Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));
}
