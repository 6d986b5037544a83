import { statfs } from 'node:fs/promises';
import { SlipwayError } from '../../errors.js';
import { targetManifest, type UpdateStep } from '../update-context.js';

/** Step 3: refuse what would break before anything changes. */
export const preflightStep: UpdateStep = {
  name: 'preflight',
  async run(ctx) {
    const manifest = targetManifest(ctx);
    const { missing } = await ctx.runtime.appConfig(manifest);
    if (missing.length > 0) {
      throw new SlipwayError('CONFIG_KEYS_MISSING', `${manifest.version} needs config keys this host does not have: ${missing.join(', ')}`, {
        hint: `add them to ${ctx.layout.envFile} (KEY=VALUE, mode 0600) or the agent's environment, then deploy again`,
      });
    }
    if (ctx.kind === 'deploy' && ctx.from && !ctx.allowOlder && Date.parse(manifest.date) < Date.parse(ctx.from.manifest.date)) {
      throw new SlipwayError('RELEASE_OLDER', `${manifest.version} is older than the running ${ctx.from.manifest.version}`, {
        hint: 'going back is a rollback: use `slipway rollback --to <version>`',
      });
    }
    const unpacked = manifest.files.reduce((sum, f) => sum + f.size, 0);
    const fs = await statfs(ctx.layout.root);
    const free = fs.bavail * fs.bsize;
    if (free < unpacked * 2 + 64 * 1024 * 1024) {
      throw new SlipwayError('DISK_SPACE_LOW', `only ${Math.round(free / 1048576)} MiB free under ${ctx.layout.root}`, {
        hint: 'free some space (`slipway prune` removes old releases) and deploy again',
      });
    }
    if (manifest.notes.trim()) {
      ctx.progress(`release notes of ${manifest.version}:`);
      for (const line of manifest.notes.trim().split('\n')) ctx.progress(`  ${line}`);
    }
    return { outcome: 'done', detail: `config ok, ${Math.round(free / 1048576)} MiB free` };
  },
};
