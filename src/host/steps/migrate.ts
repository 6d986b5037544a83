import { spawn } from 'node:child_process';
import { SlipwayError } from '../../errors.js';
import { releaseDir } from '../layout.js';
import { serviceEnvironment } from '../app-env.js';
import { dataItems, restoreBackup, runScrubSql } from '../../data/index.js';
import { dataEnvironment, targetManifest, type UpdateContext, type UpdateStep } from '../update-context.js';

/**
 * Step 6: the data for the target release. A deploy runs the app's own migration
 * command from the new release; a rollback or restore with data brings a backup back.
 * Undo restores the backup step 4 took, then restarts the old release on it.
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
      appConfig: values,
      serviceEnv: {},
      extra: { SLIPWAY_ENV: ctx.environmentName, SLIPWAY_RELEASE_ID: ctx.to.id, SLIPWAY_VERSION: manifest.version },
    });
    const started = performance.now();
    await runCommand(ctx, { command: migrate.command, cwd: releaseDir(ctx.layout, ctx.to.id), env, timeoutMs: migrate.timeoutMs });
    return { outcome: 'done', detail: `\`${migrate.command}\` took ${Math.round(performance.now() - started)} ms` };
  },
  async undo(ctx) {
    if (!ctx.dataChanged) return;
    if (!ctx.preBackupId || !ctx.from) return 'the data stays as the update left it: no backup was taken before it (no data configured)';
    // Nobody may read or write while the data is swapped back.
    ctx.runtime.setMaintenance({ mode: 'refuse', retryAfterSeconds: 10 });
    try {
      await restoreBackup({
        layout: ctx.layout,
        ledger: ctx.ledger,
        backupId: ctx.preBackupId,
        data: ctx.from.manifest.runtime.data,
        env: await dataEnvironment(ctx, ctx.from.manifest),
      });
      // The running old release may still hold the replaced files open: start it afresh on the restored data.
      const stale = ctx.runtime.activeSlot();
      const fresh = await ctx.runtime.startIdleSlot(ctx.from.id, ctx.from.manifest);
      await ctx.runtime.activate(fresh);
      if (stale && stale !== fresh) await ctx.runtime.stopSlot(stale);
      ctx.oldSlot = fresh;
      ctx.dataChanged = false;
    } finally {
      ctx.runtime.setMaintenance({ mode: 'off' });
      ctx.maintenanceOn = false;
    }
    return `restored backup ${ctx.preBackupId}: ${ctx.from.manifest.version} serves its own data`;
  },
};

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
