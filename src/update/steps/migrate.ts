import { SlipwayError } from '../../errors.js';
import { backupUndoing, dataItems, hasData, restoreBackup, runScrubSql } from '../../data/index.js';
import { backupReleaseData, dataEnvironment, targetManifest, type UpdateContext, type UpdateStep } from '../context.js';


/** How long undoing an update waits for a database that cannot be reached to come back. */
const DATABASE_WAIT_MS = 120_000;
const DATABASE_RETRY_MS = 500;

/**
 * Step 6: the data for the target release. A deploy runs the app's own migration
 * command from the new release; a rollback or restore with data brings a backup back.
 * Undo restores the backup step 4 took, then restarts the old release on it; when the
 * target release served in between, the data it leaves (writes it acknowledged) is
 * backed up first, so that undoing the update discards nothing for good.
 */
export const migrateStep: UpdateStep = {
  name: 'migrate',
  describe({ input, migrations }) {
    const step = (runs: boolean, what: string) => ({ step: 'migrate' as const, runs, what });
    if (input.restoresBackup) return step(true, "restore the backup's data (no migration runs)");
    if (migrations.runs) {
      const command = `run \`${migrations.command}\``;
      // The undo restores the backup step 4 took; on a first deploy there is none.
      if (!input.current) return step(true, `${command} before anything serves (nothing to back up first: if the deploy fails, the data stays as the migration left it)`);
      return step(true, `${command}${migrations.reversible ? ' (reversible)' : ' (not reversible: undoing it restores the backup)'}`);
    }
    return step(false, input.kind === 'rollback' ? 'a rollback runs no migrations' : `${input.target.version} has no migrate command`);
  },
  skipWhy(ctx) {
    if (ctx.restore) return null;
    if (ctx.kind !== 'deploy') return 'a rollback runs no migrations';
    return targetManifest(ctx).runtime.migrate ? null : 'the release has no migrate command';
  },
  async run(ctx) {
    const manifest = targetManifest(ctx);
    if (ctx.restore) {
      const { backupId, backupDir, scrubFile } = ctx.restore;
      await ctx.record('migrate', { changesData: true });
      const env = await dataEnvironment(ctx, manifest);
      const result = await restoreBackup({
        layout: ctx.layout,
        // A backup from another host is checked against its own backup.json, not this host's catalog.
        ledger: backupDir ? null : ctx.ledger,
        backupId,
        ...(backupDir ? { backupDir } : {}),
        data: manifest.runtime.data,
        env,
      });
      if (scrubFile) {
        for (const item of dataItems({ data: manifest.runtime.data, sharedDir: ctx.layout.sharedDir }).filter((i) => i.kind === 'database')) {
          await runScrubSql({ item, env, sqlFile: scrubFile });
        }
      }
      return { outcome: 'done', detail: `restored backup ${backupId} (${result.restored.join(', ')}) in ${result.durationMs} ms${scrubFile ? ', scrubbed' : ''}` };
    }
    const skip = migrateStep.skipWhy!(ctx);
    const migrate = manifest.runtime.migrate;
    if (skip !== null || !migrate) return { outcome: 'skipped', detail: skip ?? '' };
    await ctx.record('migrate', { changesData: true });
    const started = performance.now();
    await ctx.runtime.runCommand({
      release: { id: ctx.to.id, manifest },
      command: migrate.command,
      extraEnv: { SLIPWAY_ENV: ctx.environmentName, SLIPWAY_RELEASE_ID: ctx.to.id, SLIPWAY_VERSION: manifest.version },
      timeoutMs: migrate.timeoutMs,
      onLine: (line) => ctx.progress(`  | ${line}`),
    });
    return { outcome: 'done', detail: `\`${migrate.command}\` took ${Math.round(performance.now() - started)} ms` };
  },
  async undo(ctx) {
    if (!ctx.facts.migrate?.changesData) return;
    const backup = backupToRestore(ctx);
    if (!backup || !ctx.from) return 'the data stays as the update left it: no backup was taken before it (no data configured)';
    const from = ctx.from;
    // Requests wait while the data is swapped back, then go to the old release restarted on it.
    ctx.maintenance.hold('all');
    await ctx.maintenance.settleWrites();
    let kept: string | null = null;
    try {
      kept = await keepDataOfFailedUpdate(ctx);
      const env = await dataEnvironment(ctx, from.manifest);
      await whileDatabaseUnreachable(ctx, `restore backup ${backup.id}`, () =>
        restoreBackup({ layout: ctx.layout, ledger: ctx.ledger, backupId: backup.id, data: from.manifest.runtime.data, env }),
      );
      // The running old release may still hold the replaced files open: start it afresh on the restored data.
      const stale = ctx.runtime.active();
      const fresh = await ctx.runtime.startIdle(from.id, from.manifest);
      await ctx.runtime.activate(fresh);
      if (stale && stale !== fresh) await ctx.runtime.stop(stale);
      ctx.running.replaced = fresh;
      ctx.facts.migrate = { changesData: false };
    } finally {
      ctx.maintenance.end();
    }
    return `restored backup ${backup.id}: ${from.manifest.version} serves its own data${kept ? `; the data ${ctx.to.manifest?.version ?? 'the update'} left is kept in backup ${kept}` : ''}`;
  },
};

/** The backup undoing the update restores, when it changed the data: step 4's, of the release before. */
function backupToRestore(ctx: UpdateContext) {
  return backupUndoing(ctx.ledger, { id: ctx.deploymentId, fromId: ctx.from?.id ?? null });
}

/** Undoing the update brings back the data of the release before, and starts that release afresh on them (this step's undo). */
export function undoRestoresData(ctx: UpdateContext): boolean {
  return Boolean(ctx.facts.migrate?.changesData && ctx.from && backupToRestore(ctx));
}

/**
 * The target release may have served (the switch began), so it may have acknowledged writes that
 * restoring the earlier backup discards: back up the data as the update leaves it first.
 * Best effort: the restore goes ahead when this backup fails (a half-migrated database may not dump).
 *
 * Read from the journal, whose lines are durable before a step acts (a crash inside the switch
 * leaves its begin and no end: the new release may have answered), not from the ledger's step
 * rows, which are history only (Ledger.historyOnly).
 */
async function keepDataOfFailedUpdate(ctx: UpdateContext): Promise<string | null> {
  const served = (await ctx.journal.entriesFor(ctx.deploymentId)).some((e) => e.step === 'switch' && e.phase === 'begin');
  const manifest = ctx.to.manifest;
  if (!served || !manifest || !hasData(manifest.runtime.data)) return null;
  try {
    // Not tied to the deployment: its backups are what undoing or recovering it restores, and this one must never be.
    const backup = await whileDatabaseUnreachable(ctx, `back up the data ${manifest.version} leaves`, () =>
      backupReleaseData(ctx, { release: { id: ctx.to.id, manifest }, reason: 'pre-restore', deploymentId: null }),
    );
    return backup.id;
  } catch (error) {
    ctx.progress(`warning: could not back up the data ${manifest.version} leaves before restoring: ${(error as Error).message}`);
    return null;
  }
}

/**
 * Runs `work` (a backup or a restore of the undo) again while the database cannot be
 * reached, for up to DATABASE_WAIT_MS. The update often failed because the database
 * went away (a restart, a failover); giving up at once would leave the old release on
 * the data the new one migrated, so the undo waits for the server to come back.
 */
async function whileDatabaseUnreachable<T>(ctx: UpdateContext, what: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + DATABASE_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof SlipwayError && error.code === 'BACKUP_DB_UNREACHABLE') || Date.now() >= deadline) throw error;
      if (!told) ctx.progress(`the database cannot be reached: waiting up to ${DATABASE_WAIT_MS / 1000} s for it to come back to ${what}`);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, DATABASE_RETRY_MS));
    }
  }
}
