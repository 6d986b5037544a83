import path from 'node:path';
import { promises as fs } from 'node:fs';
import { SlipwayError } from '../errors.js';
import { getEnvironment } from '../config/load.js';
import { defaultHostRoot, hostLayout } from '../host/layout.js';
import { openEnvironment, connectAgent } from './environment.js';
import { RemoteEnvironmentRedirect } from './remote-redirect.js';
import { confirmOrRefuse } from './prompt.js';
import { printUpdateEvent, updateFailure } from './update-output.js';
import { whoAmI } from './deploy.js';
import type { CliContext, CommandResult } from './context.js';

interface DataCopyOptions {
  args: string[];
  /** a file; false with --no-scrub; absent: refused */
  scrub?: string | false;
  backup?: string;
  yes?: boolean;
  config?: string;
}

/**
 * Production → staging: takes (or reuses) a backup of the source environment, restores it into
 * the target's databases and folders, runs the scrub SQL there, and restarts the target on it.
 */
export default async function dataCopy(options: DataCopyOptions, ctx: CliContext): Promise<CommandResult> {
  const [fromName, toName] = options.args;
  if (fromName === toName) throw new SlipwayError('USAGE', 'copy data between two different environments', { exitCode: 2 });
  if (options.scrub === undefined) throw scrubRequired(fromName!, toName!);
  const from = await openEnvironment({ config: options.config, env: fromName }, ctx).catch((error) => refuseRemote(error, fromName!, toName!));
  const to = await openEnvironment({ config: options.config, env: toName }, ctx).catch((error) => refuseRemote(error, fromName!, toName!));
  getEnvironment(from.project, toName!);
  const scrubFile = typeof options.scrub === 'string' ? path.resolve(ctx.cwd, options.scrub) : undefined;
  if (scrubFile) await fs.access(scrubFile).catch(() => {
    throw new SlipwayError('SCRUB_FILE_MISSING', `cannot read the scrub file ${scrubFile}`, { exitCode: 2, hint: 'pass a .sql file that anonymises the copy' });
  });
  const go = await confirmOrRefuse(ctx, { yes: options.yes, question: `Replace ALL data of ${toName} with a copy of ${fromName}'s?`, what: 'data copy' });
  if (!go) return { stdout: 'nothing changed', exitCode: 1 };

  let backupId = options.backup;
  if (!backupId) {
    const source = await connectAgent(from, ctx);
    ctx.progress(`backing up ${fromName}…`);
    backupId = (await source.call('backup', { reason: 'manual' })).id;
    ctx.progress(`backup ${backupId} of ${fromName} taken and verified`);
  }
  const fromLayout = hostLayout(from.environment.root ?? defaultHostRoot(from.project.config.app, from.environment.name));
  const target = await connectAgent(to, ctx);
  const result = await target.stream(
    'dataImport',
    { backupId, backupDir: path.join(fromLayout.backupsDir, backupId), scrubFile, who: whoAmI(ctx), reason: `data copy from ${fromName} (backup ${backupId})${scrubFile ? ', scrubbed' : ''}` },
    (event) => printUpdateEvent(ctx, event),
  );
  if (!result.ok) throw updateFailure(result, `${toName} keeps its own data`);
  return { stdout: `${toName} now runs on a copy of ${fromName}'s data (backup ${backupId})${scrubFile ? `, scrubbed with ${path.basename(scrubFile)}` : ''}` };
}

/**
 * A copy that involves servers is not made from here: the target's own agent takes the source's
 * encrypted off-site copy from its S3 store on the target's data_copy schedule
 * (agent/copy-source.ts). Run on one of the hosts, this command would not reach the other
 * server's data either, so the hint says what does.
 */
function refuseRemote(error: unknown, fromName: string, toName: string): never {
  if (!(error instanceof RemoteEnvironmentRedirect)) throw error;
  const remote = error.environment;
  const hint =
    remote.name === fromName
      ? `${toName}'s own agent copies ${fromName}'s data, from the encrypted off-site copies its hosts send to an S3 store: give ${fromName} backup_key_env and an S3 store (or offsite_store), ` +
        `give ${toName} data_copy: { from: ${fromName}, schedule: "0 3 * * *", scrub: <file.sql> } in slipway.yml, run \`slipway setup\` for each environment on servers, ` +
        `then \`slipway data copies ${toName}\` lists the copies and how they ended`
      : `${toName}'s hosts cannot reach ${fromName}'s data on this machine: a copy into servers is made by their own agent from the source's off-site copies in an S3 store, so ${fromName} must run on a server too (see data_copy in slipway.yml)`;
  throw new SlipwayError('DATA_COPY_REMOTE', `\`slipway data copy\` copies between environments on this machine, and ${remote.name} runs on remote hosts (${remote.hosts.map((h) => h.name).join(', ')}): nothing was copied`, { exitCode: 2, hint });
}

/** Personal data should not reach staging by default: a copy says how it is scrubbed, or that it is not. */
function scrubRequired(fromName: string, toName: string): SlipwayError {
  return new SlipwayError('SCRUB_REQUIRED', `refusing to copy ${fromName}'s data into ${toName} unscrubbed: nothing was copied`, {
    exitCode: 2,
    hint: `personal data should not reach ${toName} by default: pass --scrub <file.sql> (SQL that anonymises the copy, run on ${toName} after the restore), or --no-scrub if the data holds none`,
  });
}
