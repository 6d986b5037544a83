/**
 * The host ledger's records as its readers see them: releases, host state,
 * deployments with their steps, history entries, backups and their off-site copies.
 */
import type { BackupReason } from './backup-reasons.js';

/** A release unpacked on this host: its id (the manifest's digest) and small facts; the manifest is in manifests/<id>.json. */
export interface ReleaseRecord {
  id: string;
  version: string;
  commit: string;
  /** ISO 8601 */
  unpackedAt: string;
}

/** What recordRelease takes. */
export type RecordReleaseInput = Omit<ReleaseRecord, 'unpackedAt'> & {
  unpackedAt?: string;
  /**
   * Ignored: the manifest is read from manifests/<id>.json. Still accepted so that
   * callers written before the ledger stopped keeping manifests keep compiling.
   * @deprecated stop passing it
   */
  manifestJson?: string;
};

export interface HostState {
  currentId: string | null;
  previousId: string | null;
}

/**
 * What a deployment was, as `slipway history` shows it: `rollback` is code only,
 * `rollback-with-data` also brought back the backup its update took, `restore` brought
 * a chosen backup back (with the release it belongs to). `recovery` is accepted for
 * records that older slipway versions may have written.
 */
export type DeploymentKind = 'deploy' | 'rollback' | 'rollback-with-data' | 'restore' | 'recovery';
export const DEPLOYMENT_KINDS: readonly DeploymentKind[] = ['deploy', 'rollback', 'rollback-with-data', 'restore', 'recovery'];
export type DeploymentOutcome = 'succeeded' | 'failed' | 'rolled-back';
export type StepOutcome = 'done' | 'skipped' | 'failed' | 'undone';

export interface StartDeployment {
  kind: DeploymentKind;
  fromId: string | null;
  toId: string | null;
  fromVersion: string | null;
  toVersion: string | null;
  reason: string;
  /** who asked: a user, 'agent (channel poll)', 'ci'… */
  who: string;
}

export interface StepRecord {
  name: string;
  startedAt: string;
  /** null while running, or when the process died during the step */
  finishedAt: string | null;
  outcome: StepOutcome | null;
  ms: number | null;
  detail: string | null;
}

export interface DeploymentRecord extends StartDeployment {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  /** null while running, or when it was interrupted and recovery has not finished it yet */
  outcome: DeploymentOutcome | null;
  error: string | null;
  /** in the order they started */
  steps: StepRecord[];
}

/** One entry of `slipway history --json` (CONTRACT.md): from/to are versions. */
export interface HistoryEntry {
  id: number;
  kind: DeploymentKind;
  from: string | null;
  to: string | null;
  outcome: DeploymentOutcome | null;
  startedAt: string;
  finishedAt: string | null;
  steps: Array<{ name: string; outcome: StepOutcome | null; ms: number | null }>;
}

/** One file of a backup (catalog view; fingerprints stay in the backup's backup.json). */
export interface BackupItemRecord {
  name: string;
  kind: 'database' | 'folder';
  engine: string;
  /** file name inside backups/<id>/ */
  file: string;
  size: number;
  sha256: string;
}

/** A backup in the catalog: the fields of `slipway backups --json` (CONTRACT.md) and more. */
export interface BackupRecord {
  id: string;
  environment: string;
  /** the release that was serving when the backup was taken (null: none yet) */
  release: { id: string; version: string | null } | null;
  reason: BackupReason;
  /** ISO 8601 */
  createdAt: string;
  /** bytes of all item files */
  size: number;
  /** sha256 over the items' digests: sha256 of the lines "<item sha256>  <file>\n", in item order */
  sha256: string;
  /** when a check last passed (checksums and a structural read at creation; a scratch restore for `backup verify`) */
  verifiedAt: string | null;
  durationMs: number;
  /** the deployment it was taken for (pre-deploy/post-deploy), else null */
  deploymentId: number | null;
  items: BackupItemRecord[];
  /** its encrypted copy in the environment's store; absent when it has none */
  offsite?: OffsiteCopyRecord;
}

/** Where a backup's off-site copy is: store keys and key id only, never the encryption key. */
export interface OffsiteCopyRecord {
  /** the store key prefix of the copy: <app>/backups/<env>/<id>/ */
  key: string;
  /** id of the encryption key (first 16 hex digits of its sha256) */
  keyId: string;
  /** ISO 8601: when the copy was complete */
  at: string;
}

/** The timestamp a record is stamped with (ISO 8601). */
export function now(): string {
  return new Date().toISOString();
}
