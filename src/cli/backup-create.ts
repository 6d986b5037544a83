import { usageError } from '../errors.js';
import { BackupReasonSchema } from '../agent/api.js';
import { openEnvironment, connectAgent } from './environment.js';
import { formatBytes } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

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
  const backup = await agent.call('backup', { reason: backupReason(options.reason ?? 'manual') });
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

/** --reason, one the agent knows (a usage error otherwise). */
function backupReason(text: string) {
  const parsed = BackupReasonSchema.safeParse(text);
  if (!parsed.success) throw usageError('USAGE', parsed.error.issues[0]?.message ?? `unknown backup reason "${text}"`);
  return parsed.data;
}
