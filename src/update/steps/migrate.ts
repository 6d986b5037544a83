import { spawn } from 'node:child_process';
import { SlipwayError } from '../../errors.js';
import { releaseDir } from '../../host/layout.js';
import { primaryService } from '../../runtime/slots.js';
import { serviceEnvironment } from '../../host/app-env.js';
import { dataItems, hasData, restoreBackup, runScrubSql } from '../../data/index.js';
import { backupReleaseData, dataEnvironment, targetManifest, type UpdateContext, type UpdateStep } from '../context.js';

/** How long requests wait for a restore before they are answered 503. */
const RESTORE_HOLD_MS = 60_000;

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
  async run(ctx) {
    const manifest = targetManifest(ctx);
    if (ctx.restoreBackupId) {
      ctx.dataChanged = true;
      const env = await dataEnvironment(ctx, manifest);
      const result = await restoreBackup({
        layout: ctx.layout,
        // A backup from another host is checked against its own backup.json, not this host's catalog.
        ledger: ctx.restoreBackupDir ? null : ctx.ledger,
        backupId: ctx.restoreBackupId,
        ...(ctx.restoreBackupDir ? { backupDir: ctx.restoreBackupDir } : {}),
        data: manifest.runtime.data,
        env,
      });
      if (ctx.scrubFile) {
        for (const item of dataItems({ data: manifest.runtime.data, sharedDir: ctx.layout.sharedDir }).filter((i) => i.kind === 'database')) {
          await runScrubSql({ item, env, sqlFile: ctx.scrubFile });
        }
      }
      return { outcome: 'done', detail: `restored backup ${ctx.restoreBackupId} (${result.restored.join(', ')}) in ${result.durationMs} ms${ctx.scrubFile ? ', scrubbed' : ''}` };
    }
    const migrate = manifest.runtime.migrate;
    if (ctx.kind !== 'deploy') return { outcome: 'skipped', detail: 'a rollback runs no migrations' };
    if (!migrate) return { outcome: 'skipped', detail: 'the release has no migrate command' };
    ctx.dataChanged = true;
    const { values } = await ctx.runtime.appConfig(manifest);
    const env = serviceEnvironment({
      processEnv: process.env,
      secrets: ctx.environment,
      appConfig: values,
      // The migration runs like the app does: with the web service's own env (NODE_PATH and the like).
      serviceEnv: primaryService(manifest.runtime.services).env,
      extra: { SLIPWAY_ENV: ctx.environmentName, SLIPWAY_RELEASE_ID: ctx.to.id, SLIPWAY_VERSION: manifest.version },
    });
    const started = performance.now();
    await runCommand(ctx, { command: migrate.command, cwd: releaseDir(ctx.layout, ctx.to.id), env, timeoutMs: migrate.timeoutMs });
    return { outcome: 'done', detail: `\`${migrate.command}\` took ${Math.round(performance.now() - started)} ms` };
  },
  async undo(ctx) {
    if (!ctx.dataChanged) return;
    if (!ctx.preBackupId || !ctx.from) return 'the data stays as the update left it: no backup was taken before it (no data configured)';
    // Requests wait while the data is swapped back, then go to the old release restarted on it.
    ctx.runtime.setMaintenance({ mode: 'hold', holdMs: RESTORE_HOLD_MS, afterHold: 'refuse' });
    let kept: string | null = null;
    try {
      kept = await keepDataOfFailedUpdate(ctx);
      const env = await dataEnvironment(ctx, ctx.from.manifest);
      const { preBackupId, from } = ctx;
      await whileDatabaseUnreachable(ctx, `restore backup ${preBackupId}`, () =>
        restoreBackup({ layout: ctx.layout, ledger: ctx.ledger, backupId: preBackupId, data: from.manifest.runtime.data, env }),
      );
      // The running old release may still hold the replaced files open: start it afresh on the restored data.
      const stale = ctx.runtime.activeSlot();
      const fresh = await ctx.runtime.startIdleSlot(ctx.from.id, ctx.from.manifest);
      await ctx.runtime.activate(fresh);
      if (stale && stale !== fresh) await ctx.runtime.stopSlot(stale);
      ctx.oldSlot = fresh;
      ctx.dataChanged = false;
    } finally {
      ctx.runtime.setMaintenance(ctx.maintenanceBefore ?? { mode: 'off' });
      ctx.maintenanceOn = false;
    }
    return `restored backup ${ctx.preBackupId}: ${ctx.from.manifest.version} serves its own data${kept ? `; the data ${targetManifest(ctx).version} left is kept in backup ${kept}` : ''}`;
  },
};

/**
 * The target release served (the switch happened), so it may have acknowledged writes that
 * restoring the earlier backup discards: back up the data as the update leaves it first.
 * Best effort: the restore goes ahead when this backup fails (a half-migrated database may not dump).
 */
async function keepDataOfFailedUpdate(ctx: UpdateContext): Promise<string | null> {
  const served = ctx.ledger.getDeployment(ctx.deploymentId)?.steps.some((s) => s.name === 'switch' && s.outcome === 'done');
  const manifest = targetManifest(ctx);
  if (!served || !hasData(manifest.runtime.data)) return null;
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

/** Runs an author's command (migrate, hooks) with its output streamed as progress; failures carry the last lines. */
export function runCommand(ctx: UpdateContext, o: { command: string; cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', o.command], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        ctx.progress(`  | ${line}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, o.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new SlipwayError('COMMAND_FAILED', `\`${o.command}\` could not start: ${error.message}`, { hint: 'check the command in slipway.yml' }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const how = signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, over its ${o.timeoutMs} ms limit` : ''})` : `exited with code ${code}`;
      reject(
        new SlipwayError('COMMAND_FAILED', `\`${o.command}\` ${how}`, {
          details: tail.length > 0 ? ['last output:', ...tail.map((l) => `  ${l}`)] : [],
          hint: 'fix the command (run it by hand in the release folder to see more) and deploy again',
        }),
      );
    });
  });
}
