import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { backupBeforeDeployment, getBackup, loadIntactBackup, readBackupManifest } from '../data/index.js';
import type { HostLayout } from '../host/layout.js';
import type { DataCopyTrigger, Ledger } from '../host/ledger.js';
import { nothingDeployed } from '../host/current-link.js';
import type { UpdateRequest } from '../update/run-update.js';
import type { UpdateResult } from './api.js';
import { toWireError } from './wire.js';

/** What an update that brings data back needs to know: which release, which backup. */
export interface DataRestoreTarget {
  releaseId: string;
  restoreBackupId: string;
  /** what `slipway history` calls the update */
  recordAs: 'rollback-with-data' | 'restore';
}

/**
 * `rollback --with-data`: undo the update that brought the current release, code
 * and data: back to the release it came from, with the backup it took before it changed anything.
 */
export function rollbackWithDataTarget(ledger: Ledger, to?: string): DataRestoreTarget {
  const { currentId } = ledger.getState();
  const deployment = ledger
    .listDeployments({ limit: 500 })
    .find((d) => d.kind === 'deploy' && d.outcome === 'succeeded' && d.toId === currentId && d.fromId);
  if (!deployment || !deployment.fromId) {
    throw new SlipwayError('NOTHING_TO_UNDO', 'no deployment brought the current release from an earlier one, so there is no update to undo with its data', {
      exitCode: 2,
      hint: 'restore a backup by id instead: `slipway backups <env>` then `slipway restore <env> <backup-id>`',
    });
  }
  if (to && to !== deployment.fromVersion && to !== deployment.fromId && !deployment.fromId.startsWith(to)) {
    throw new SlipwayError('ROLLBACK_WITH_DATA_TARGET', `--with-data undoes the update ${deployment.fromVersion} → ${deployment.toVersion}: it goes back to ${deployment.fromVersion}, not ${to}`, {
      exitCode: 2,
      hint: `drop --to, or restore a backup of ${to} with \`slipway restore <env> <backup-id>\``,
    });
  }
  const backup = backupBeforeDeployment(ledger, deployment.id);
  if (!backup) {
    throw new SlipwayError('NO_BACKUP_FOR_UPDATE', `the update ${deployment.fromVersion} → ${deployment.toVersion} took no backup (no data configured then)`, {
      exitCode: 2,
      hint: 'roll back the code only (without --with-data)',
    });
  }
  return { releaseId: deployment.fromId, restoreBackupId: backup.id, recordAs: 'rollback-with-data' };
}

/** `slipway restore <backup-id>`: the backup's data and the release it belongs to. */
export function restoreTarget(ledger: Ledger, backupId: string, dataOnly: boolean): DataRestoreTarget {
  // An unknown id is a usage error, exit 2.
  const backup = getBackup(ledger, backupId);
  const releaseId = backup.release?.id ?? ledger.getState().currentId;
  if (!releaseId) throw nothingDeployed({ why: 'the backup belongs to no release' });
  if (dataOnly && releaseId !== ledger.getState().currentId) {
    throw new SlipwayError('RESTORE_DATA_ONLY_MISMATCH', `backup ${backupId} belongs to ${backup.release?.version ?? releaseId}, not to the current release`, {
      exitCode: 2,
      hint: 'drop --data-only: restoring it brings its release back too (data and code belong together)',
    });
  }
  return { releaseId, restoreBackupId: backup.id, recordAs: 'restore' };
}

/** A copy of another environment's backup into this one (`data copy`, the data_copy schedule). */
export interface DataImportRequest {
  backupId: string;
  /** the source's backup folder (on this machine: the source host's; from the store: a fetched copy) */
  backupDir: string;
  /** absent: not scrubbed (the CLI and the schedule refuse that unless told --no-scrub / no_scrub) */
  scrubFile?: string;
  who?: string;
  reason?: string;
}

export interface ImportDataOptions {
  ledger: Ledger;
  layout: HostLayout;
  environment: string;
  trigger: DataCopyTrigger;
  request: DataImportRequest;
  /** runs the restore update (the agent's pipeline) and says how it ended */
  run(request: UpdateRequest): Promise<UpdateResult>;
}

/**
 * Restores another environment's backup into this one, scrubbed, through the update
 * pipeline (it backs this environment up first and undoes the restore when the scrub
 * or the health check fails), and records the copy in the ledger (`slipway data copies`).
 * Before anything changes, the scrub file is read and the backup's files are checked
 * against its backup.json: an unreadable scrub or a damaged source is a failed copy that
 * touched nothing. Never writes to the source.
 */
export async function importData(o: ImportDataOptions): Promise<UpdateResult> {
  const { ledger, request } = o;
  const currentId = ledger.getState().currentId;
  if (!currentId) throw nothingDeployed({ environment: o.environment, why: 'deploy a release before copying data into it' });
  const who = request.who ?? 'slipway';
  const scrub = request.scrubFile ? await scrubFacts(request.scrubFile) : null;
  let source: { environment: string | null; createdAt: string | null } = { environment: null, createdAt: null };
  let refused: unknown = scrub?.error ?? null;
  if (!refused) {
    try {
      // Its facts first: a damaged backup is still recorded as the one that was tried.
      const facts = await readBackupManifest(request.backupDir).catch(() => null);
      if (facts) source = { environment: facts.environment, createdAt: facts.createdAt };
      const { manifest } = await loadIntactBackup({ layout: o.layout, ledger: null, backupId: request.backupId, backupDir: request.backupDir });
      source = { environment: manifest.environment, createdAt: manifest.createdAt };
      if (manifest.id !== request.backupId) throw new SlipwayError('BACKUP_CORRUPT', `the folder of backup ${request.backupId} holds backup ${manifest.id}`, { hint: 'use another backup' });
    } catch (error) {
      refused = error;
    }
  }
  const copyId = ledger.startDataCopy({
    trigger: o.trigger,
    sourceEnvironment: source.environment,
    backupId: request.backupId,
    backupCreatedAt: source.createdAt,
    scrub: scrub ? { file: scrub.file, sha256: scrub.sha256 } : null,
    who,
  });
  if (refused) {
    const error = toWireError(refused);
    ledger.finishDataCopy(copyId, { outcome: 'failed', error: `${error.message} (nothing was changed)` });
    return { ok: false, error };
  }
  let result: UpdateResult;
  try {
    result = await o.run({
      who,
      reason: request.reason ?? `data copy from ${source.environment} (backup ${request.backupId})${scrub ? ', scrubbed' : ''}`,
      recordAs: 'restore',
      releaseId: currentId,
      restoreBackupId: request.backupId,
      restoreBackupDir: request.backupDir,
      ...(request.scrubFile ? { scrubFile: request.scrubFile } : {}),
    });
  } catch (error) {
    // Refused before it started (another update holds the host): nothing changed.
    ledger.finishDataCopy(copyId, { outcome: 'failed', error: `${toWireError(error).message} (nothing was changed)` });
    throw error;
  }
  ledger.finishDataCopy(copyId, {
    outcome: result.ok ? 'succeeded' : 'failed',
    deploymentId: result.deploymentId ?? null,
    ...(result.ok ? {} : { error: `${result.error?.message ?? 'the copy failed'}${result.undoFailures?.length ? `; undo problems: ${result.undoFailures.join('; ')}` : `; ${o.environment} is back on its previous data`}` }),
  });
  return result;
}

/** A copy that failed before it had a backup to restore (none verified, the store unreachable): recorded so `data copies` says why. */
export function recordFailedCopy(ledger: Ledger, o: { trigger: DataCopyTrigger; sourceEnvironment: string; scrubFile?: string; who: string; error: unknown }): void {
  const id = ledger.startDataCopy({
    trigger: o.trigger,
    sourceEnvironment: o.sourceEnvironment,
    backupId: null,
    backupCreatedAt: null,
    scrub: o.scrubFile ? { file: path.basename(o.scrubFile), sha256: null } : null,
    who: o.who,
  });
  ledger.finishDataCopy(id, { outcome: 'failed', error: `${toWireError(o.error).message} (nothing was changed)` });
}

/** The scrub file's name and digest, for the record: which scrub ran is part of what the copy was. */
async function scrubFacts(file: string): Promise<{ file: string; sha256: string | null; error?: SlipwayError }> {
  try {
    const bytes = await fs.readFile(file);
    return { file: path.basename(file), sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch (error) {
    return {
      file: path.basename(file),
      sha256: null,
      error: new SlipwayError('SCRUB_FILE_MISSING', `cannot read the scrub file ${file}: ${(error as Error).message}`, {
        exitCode: 2,
        hint: 'pass a readable .sql file that anonymises the copy',
        cause: error,
      }),
    };
  }
}
