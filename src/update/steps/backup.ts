import { formatBytes } from '../../util/format.js';
import { dataItems, engineFor, loadIntactBackup, nothingToBackUp, type BackupManifest, type BackupRecord, type Fingerprint } from '../../data/index.js';
import { tieBackupToDeployment } from '../../data/catalog.js';
import { findItem } from '../../data/items.js';
import type { ReleaseManifest } from '../../release/manifest.js';
import { backupReleaseData, changesData, dataEnvironment, type UpdateContext, type UpdateStep } from '../context.js';
import { dataParts } from '../../plan/plan.js';

/**
 * How old a fleet rollout's backup may be when this host's turn comes. A rollout reaches a host
 * after the other hosts' backups, the transfers and each earlier host's update (seconds to
 * minutes); the bound is an order above that. It is there because the id arrives on a command
 * line: a stale id, typed by hand or replayed by a script, must not become an update's backup.
 */
export const ROLLOUT_BACKUP_MAX_AGE_MS = 60 * 60_000;

/**
 * Step 4: a verified backup of every database and folder, tagged with the release serving now.
 *
 * When the update goes on to change the data (a migration, a restore), writes stop being
 * acknowledged before the snapshot starts: a write the old release acknowledged after the
 * snapshot would be lost if the update then restored that backup. A restore also checks
 * the backup it brings back first, so a damaged one is refused before anything changes.
 *
 * In a fleet rollout the backup taken of every host before any host changed is this update's
 * backup, when it still fits (rolloutBackup): each host is backed up once per rollout.
 */
export const backupStep: UpdateStep = {
  name: 'backup',
  describe({ input, migrations }) {
    const { current } = input;
    const restores = input.restoresBackup === true;
    const step = (runs: boolean, what: string) => ({ step: 'backup' as const, runs, what });
    if (input.kind === 'rollback' && !restores) return step(false, 'the data stays as it is (a rollback with data restores a backup instead)');
    if (!current) return step(false, restores ? 'nothing deployed yet: only the backup to restore is checked' : 'nothing deployed yet, so nothing to back up');
    const parts = dataParts(current);
    if (parts.length === 0) return step(false, `${current.version} has no databases or folders configured`);
    const held = restores || migrations.runs ? '; writes held from the snapshot on' : '';
    return step(true, `${restores ? 'check the backup to restore, then ' : ''}back up ${parts.join(' and ')} of ${current.version} (~${formatBytes(input.backupEstimateBytes)})${held}`);
  },
  skipWhy: (ctx) => (ctx.kind === 'rollback' && !ctx.restore ? 'the data stays as it is (--with-data restores it)' : null),
  async run(ctx) {
    if (ctx.restore) {
      const { backupId, backupDir } = ctx.restore;
      await loadIntactBackup({ layout: ctx.layout, ledger: backupDir ? null : ctx.ledger, backupId, ...(backupDir ? { backupDir } : {}) });
    }
    const skip = backupStep.skipWhy!(ctx);
    if (skip !== null) return { outcome: 'skipped', detail: skip };
    const nothing = nothingToBackUp(ctx.from);
    if (nothing || !ctx.from) return { outcome: 'skipped', detail: nothing ?? '' };
    // Checked before writes are held: only the comparison with the live data needs the hold.
    const offered = ctx.rolloutBackupId ? await rolloutBackup(ctx, ctx.from, ctx.rolloutBackupId) : null;
    // Past this point a write the old release acknowledged could be lost by restoring this backup: hold them.
    const changes = changesData(ctx);
    const held = changes && ctx.maintenance.holdWrites();
    // A write already at the app when the hold began may commit after the snapshot starts: wait for its answer.
    if (held && !(await ctx.maintenance.settleWrites())) ctx.progress('some writes were still running after 30 s of hold; backing up anyway');
    const heldNote = held ? '; writes held from the snapshot on' : '';
    let notUsed = '';
    if (offered && ctx.rolloutBackupId) {
      const why = 'why' in offered ? offered.why : changes ? await changedSince(ctx, ctx.from, offered.manifest) : null;
      if (why === null && 'record' in offered) {
        // Written where recovery reads it (the journal) before the catalog says so.
        await ctx.record('backup', { backupId: offered.record.id });
        tieBackupToDeployment(ctx.ledger, offered.record, ctx.deploymentId);
        // A fleet rollout reads this line to know the host used its backup (remote-host-driver.ts): keep its start.
        const unchanged = changes ? `; the data is unchanged since (compared${held ? ' with writes held' : ''})` : '';
        return { outcome: 'done', detail: `backup ${offered.record.id} taken at the start of the rollout (${Math.round(offered.ageMs / 1000)} s ago)${unchanged}` };
      }
      notUsed = `; backup ${ctx.rolloutBackupId} taken at the start of the rollout not used: ${why}`;
      ctx.progress(`backup ${ctx.rolloutBackupId} taken at the start of the rollout cannot be this update's: ${why}; taking a fresh one`);
    }
    const backup = await backupReleaseData(ctx, { release: ctx.from, reason: ctx.kind === 'deploy' ? 'pre-deploy' : 'pre-restore', deploymentId: ctx.deploymentId });
    ctx.facts.backup = { backupId: backup.id };
    return { outcome: 'done', detail: `${backup.id}, ${formatBytes(backup.size)}, verified${heldNote}${notUsed}` };
  },
  async undo(ctx) {
    ctx.maintenance.end();
  },
};

type Offered = { record: BackupRecord; manifest: BackupManifest; ageMs: number } | { why: string };

/**
 * The rollout's backup of this host, when it can stand for the one this step would take: in the
 * catalog, intact, verified, of the release serving now, taken before an update and claimed by
 * none, recent. Otherwise why not.
 */
async function rolloutBackup(ctx: UpdateContext, from: { id: string; manifest: ReleaseManifest }, id: string): Promise<Offered> {
  const record = ctx.ledger.getBackup(id);
  if (!record) return { why: "it is not in this host's catalog" };
  if (record.environment !== ctx.environmentName) return { why: `it is a backup of ${record.environment}` };
  if (record.release?.id !== from.id) return { why: `it belongs to ${record.release?.version ?? 'no release'}, not to ${from.manifest.version} serving here` };
  if (record.verifiedAt === null) return { why: 'it is not verified' };
  if (record.reason !== 'pre-deploy') return { why: `it is a ${record.reason} backup, not one taken before an update` };
  if (record.deploymentId !== null && record.deploymentId !== ctx.deploymentId) return { why: `it already belongs to update #${record.deploymentId}` };
  const ageMs = Math.max(0, Date.now() - Date.parse(record.createdAt));
  if (!(ageMs <= ROLLOUT_BACKUP_MAX_AGE_MS)) return { why: `it was taken ${Math.round(ageMs / 60_000)} min ago, more than ${ROLLOUT_BACKUP_MAX_AGE_MS / 60_000} min` };
  try {
    const { manifest } = await loadIntactBackup({ layout: ctx.layout, ledger: ctx.ledger, backupId: id });
    return { record, manifest, ageMs };
  } catch (error) {
    return { why: (error as Error).message };
  }
}

/**
 * Why the backup is not the data now (null: it is). Asked, with writes held, when the update
 * changes data: undoing it restores this backup, and a write acknowledged since it was taken
 * would be lost. Live fingerprints are the ones a verify compares a restore with.
 */
async function changedSince(ctx: UpdateContext, from: { manifest: ReleaseManifest }, backup: BackupManifest): Promise<string | null> {
  const changed: string[] = [];
  try {
    const env = await dataEnvironment(ctx, from.manifest);
    for (const item of dataItems({ data: from.manifest.runtime.data, sharedDir: ctx.layout.sharedDir })) {
      const backedUp = backup.items.find((b) => findItem([item], b) !== null);
      if (!backedUp) {
        changed.push(`${item.name} is not in it`);
        continue;
      }
      const live = await engineFor(item).fingerprint({ item, env });
      changed.push(...differing(backedUp.fingerprint, live).map((name) => `${item.name}: ${name}`));
    }
  } catch (error) {
    return `the data could not be compared with it: ${(error as Error).message}`;
  }
  if (changed.length === 0) return null;
  return `the data changed since it was taken (${changed.slice(0, 3).join(', ')}${changed.length > 3 ? ', …' : ''})`;
}

function differing(expected: Fingerprint, actual: Fingerprint): string[] {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return names.filter((name) => expected[name]?.rows !== actual[name]?.rows || expected[name]?.checksum !== actual[name]?.checksum);
}
