import { spawn } from 'node:child_process';
import { SlipwayError } from '../../errors.js';
import { releaseDir } from '../layout.js';
import { serviceEnvironment } from '../app-env.js';
import { targetManifest, type UpdateContext, type UpdateStep } from '../update-context.js';

/** Step 6: the app's own migration command, run from the new release against the shared data. */
export const migrateStep: UpdateStep = {
  name: 'migrate',
  async run(ctx) {
    const manifest = targetManifest(ctx);
    const migrate = manifest.runtime.migrate;
    if (ctx.kind !== 'deploy') return { outcome: 'skipped', detail: 'a rollback runs no migrations' };
    if (!migrate) return { outcome: 'skipped', detail: 'the release has no migrate command' };
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
