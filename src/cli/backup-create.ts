import type { BackupRecord } from '../data/index.js';
import { openEnvironment, connectAgent } from './environment.js';
import { formatBytes } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

type OffsiteOutcome = { ok: true; key: string; keyId: string; store: string } | { ok: false; error: string } | null;

interface BackupCreateOptions {
  args: string[];
  reason?: string;
  json?: boolean;
  config?: string;
}

/** Takes a verified backup of every database and folder of the environment. */
export default async function backupCreate(options: BackupCreateOptions, ctx: CliContext): Promise<CommandResult> {
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const agent = await connectAgent(opened, ctx);
  ctx.progress(`backing up ${opened.environment.name}…`);
  const backup = await agent.call<BackupRecord & { offsite: OffsiteOutcome }>('POST', '/v1/backup', { reason: options.reason ?? 'manual' });
  if (options.json) return jsonOutput({ id: backup.id, release: backup.release, items: backup.items, reason: backup.reason, createdAt: backup.createdAt, size: backup.size, sha256: backup.sha256, verifiedAt: backup.verifiedAt, offsite: backup.offsite });
  return {
    stdout: [
      `backup ${backup.id} of ${opened.environment.name} (${backup.release?.version ?? 'no release'}), ${formatBytes(backup.size)}, verified ${backup.verifiedAt}`,
      ...backup.items.map((i) => `  ${i.name.padEnd(12)} ${i.engine.padEnd(9)} ${formatBytes(i.size).padStart(9)}  sha256 ${i.sha256.slice(0, 16)}…`),
      ...(backup.offsite === null
        ? []
        : backup.offsite.ok
          ? [`copied off-site, encrypted (key id ${backup.offsite.keyId}), to ${backup.offsite.store}`]
          : [`warning: NOT copied off-site: ${backup.offsite.error} (the agent tries again after the next backup; \`slipway backup copy ${opened.environment.name}\` retries now)`]),
    ].join('\n'),
  };
}
