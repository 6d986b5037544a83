/**
 * The ledger's deployments, each with its steps, and the history `slipway history`
 * shows of them. Ledger checks that it may write before it calls the writers.
 */
import type Database from 'better-sqlite3';
import { SlipwayError } from '../errors.js';
import {
  now,
  type DeploymentKind,
  type DeploymentOutcome,
  type DeploymentRecord,
  type HistoryEntry,
  type StartDeployment,
  type StepOutcome,
  type StepRecord,
} from './ledger-records.js';
import { statement } from './ledger-statements.js';

interface DeploymentRow {
  id: number;
  kind: DeploymentKind;
  from_id: string | null;
  to_id: string | null;
  from_version: string | null;
  to_version: string | null;
  reason: string;
  who: string;
  started_at: string;
  finished_at: string | null;
  outcome: DeploymentOutcome | null;
  error: string | null;
}

interface StepRow {
  deployment_id: number;
  name: string;
  started_at: string;
  finished_at: string | null;
  outcome: StepOutcome | null;
  ms: number | null;
  detail: string | null;
}

/** Records the start of a deployment (startedAt = now); returns its id. */
export function startDeployment(db: Database.Database, deployment: StartDeployment): number {
  const result = statement(
    db,
    `INSERT INTO deployments (kind, from_id, to_id, from_version, to_version, reason, who, started_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
      deployment.kind,
      deployment.fromId,
      deployment.toId,
      deployment.fromVersion,
      deployment.toVersion,
      deployment.reason,
      deployment.who,
      now(),
    );
  return Number(result.lastInsertRowid);
}

export function finishDeployment(db: Database.Database, id: number, result: { outcome: DeploymentOutcome; error?: string }): void {
  const row = statement(db, 'SELECT finished_at FROM deployments WHERE id = ?').get(id) as { finished_at: string | null } | undefined;
  if (row === undefined) throw noDeployment(id);
  if (row.finished_at !== null) {
    throw new SlipwayError('HOST_LEDGER_DEPLOYMENT_FINISHED', `Deployment ${id} was already finished at ${row.finished_at}.`, {
      hint: 'This is a bug in slipway; please report it.',
    });
  }
  statement(db, 'UPDATE deployments SET finished_at = ?, outcome = ?, error = ? WHERE id = ?')
    .run(now(), result.outcome, result.error ?? null, id);
}

/** The latest deployment that never finished (in progress, or interrupted by a crash), or null. */
export function unfinishedDeployment(db: Database.Database): DeploymentRecord | null {
  const row = statement(db, 'SELECT * FROM deployments WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1')
    .get() as DeploymentRow | undefined;
  return row === undefined ? null : withSteps(db, [row])[0];
}

export function getDeployment(db: Database.Database, id: number): DeploymentRecord | null {
  const row = statement(db, 'SELECT * FROM deployments WHERE id = ?').get(id) as DeploymentRow | undefined;
  return row === undefined ? null : withSteps(db, [row])[0];
}

/** Newest first, each with its steps in the order they started. */
export function listDeployments(db: Database.Database, options: { limit?: number } = {}): DeploymentRecord[] {
  const limit = options.limit ?? 50;
  const rows = statement(db, 'SELECT * FROM deployments ORDER BY id DESC LIMIT ?').all(limit) as DeploymentRow[];
  return withSteps(db, rows);
}

/** Records that a step began; a name may repeat within a deployment (a retry, an undo): each start is its own row. */
export function startStep(db: Database.Database, deploymentId: number, name: string): void {
  const exists = statement(db, 'SELECT 1 FROM deployments WHERE id = ?').get(deploymentId);
  if (exists === undefined) throw noDeployment(deploymentId);
  statement(db, 'INSERT INTO deployment_steps (deployment_id, name, started_at, started_ms) VALUES (?, ?, ?, ?)')
    .run(deploymentId, name, now(), Date.now());
}

/**
 * Finishes the latest unfinished row of that step. A step finished without having
 * been started (typically 'skipped') gets a row of its own with ms 0.
 */
export function finishStep(db: Database.Database, deploymentId: number, name: string, result: { outcome: StepOutcome; detail?: string }): void {
  db.transaction(() => {
    const open = statement(
      db,
      `SELECT id, started_ms FROM deployment_steps
       WHERE deployment_id = ? AND name = ? AND finished_at IS NULL ORDER BY id DESC LIMIT 1`,
    ).get(deploymentId, name) as { id: number; started_ms: number } | undefined;
    const finishedAt = now();
    if (open === undefined) {
      const exists = statement(db, 'SELECT 1 FROM deployments WHERE id = ?').get(deploymentId);
      if (exists === undefined) throw noDeployment(deploymentId);
      statement(
        db,
        `INSERT INTO deployment_steps (deployment_id, name, started_at, started_ms, finished_at, outcome, ms, detail)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?)`,
      ).run(deploymentId, name, finishedAt, Date.now(), finishedAt, result.outcome, result.detail ?? null);
      return;
    }
    // The wall clock may step backwards (NTP); a duration is never negative.
    const ms = Math.max(0, Date.now() - open.started_ms);
    statement(db, 'UPDATE deployment_steps SET finished_at = ?, outcome = ?, ms = ?, detail = ? WHERE id = ?')
      .run(finishedAt, result.outcome, ms, result.detail ?? null, open.id);
  }).immediate();
}

/** `slipway history --json`: exactly the contract's fields, newest first. */
export function history(db: Database.Database, limit = 50): HistoryEntry[] {
  return listDeployments(db, { limit }).map(historyEntryOf);
}

/** One deployment as `slipway history --json` shows it. */
export function historyEntryOf(d: DeploymentRecord): HistoryEntry {
  return {
    id: d.id,
    kind: d.kind,
    from: d.fromVersion,
    to: d.toVersion,
    outcome: d.outcome,
    startedAt: d.startedAt,
    finishedAt: d.finishedAt,
    steps: d.steps.map((s) => ({ name: s.name, outcome: s.outcome, ms: s.ms })),
  };
}


function withSteps(db: Database.Database, rows: DeploymentRow[]): DeploymentRecord[] {
  if (rows.length === 0) return [];
  const placeholders = rows.map(() => '?').join(', ');
  const steps = db
    .prepare(`SELECT * FROM deployment_steps WHERE deployment_id IN (${placeholders}) ORDER BY id`)
    .all(...rows.map((r) => r.id)) as StepRow[];
  const byDeployment = new Map<number, StepRecord[]>();
  for (const s of steps) {
    const list = byDeployment.get(s.deployment_id) ?? [];
    list.push({ name: s.name, startedAt: s.started_at, finishedAt: s.finished_at, outcome: s.outcome, ms: s.ms, detail: s.detail });
    byDeployment.set(s.deployment_id, list);
  }
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    fromId: r.from_id,
    toId: r.to_id,
    fromVersion: r.from_version,
    toVersion: r.to_version,
    reason: r.reason,
    who: r.who,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    outcome: r.outcome,
    error: r.error,
    steps: byDeployment.get(r.id) ?? [],
  }));
}


function noDeployment(id: number): SlipwayError {
  return new SlipwayError('HOST_LEDGER_NO_DEPLOYMENT', `The host ledger has no deployment ${id}.`, {
    hint: 'This is a bug in slipway; please report it.',
  });
}
