import { openEnvironment, connectAgent } from './environment.js';
import { formatBytes } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface BackupFetchOptions {
  args: string[];
  json?: boolean;
  config?: string;
}

/** Downloads a backup's encrypted off-site copy onto the host (decrypted, checked, cataloged), so `slipway restore` can use it. */
export default async function backupFetch(options: BackupFetchOptions, ctx: CliContext): Promise<CommandResult> {
  const [env, id] = options.args;
  const opened = await openEnvironment({ config: options.config, env }, ctx);
  const agent = await connectAgent(opened, ctx);
  ctx.progress(`fetching backup ${id} of ${opened.environment.name} from the store…`);
  const backup = await agent.call('backupFetch', { id: id ?? '' });
  if (options.json) {
    return jsonOutput({ id: backup.id, release: backup.release, reason: backup.reason, createdAt: backup.createdAt, size: backup.size, sha256: backup.sha256, verifiedAt: backup.verifiedAt, fetched: backup.fetched });
  }
  const what = backup.fetched ? 'fetched from the store, decrypted and checked' : 'already on this host (intact): nothing fetched';
  return {
    stdout: [
      `backup ${backup.id} of ${opened.environment.name} (${backup.release?.version ?? 'no release'}), ${formatBytes(backup.size)}: ${what}`,
      `restore it with: slipway restore ${opened.environment.name} ${backup.id}`,
    ].join('\n'),
  };
}
