import { usageError } from '../errors.js';
import { forceReleaseLock, readLock } from '../host/lock.js';
import { openEnvironment } from './environment.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface LockOptions {
  args: string[];
  env?: string;
  force?: boolean;
  json?: boolean;
  config?: string;
}

/** `slipway lock status` and `slipway lock release --force`. */
export default async function lock(options: LockOptions, ctx: CliContext): Promise<CommandResult> {
  const action = options.args[0];
  const opened = await openEnvironment({ config: options.config, env: options.env }, ctx);
  if (action === 'status') {
    const info = await readLock(opened.layout.lockFile);
    if (options.json) return jsonOutput(info ? { held: true, holder: info.holder, pid: info.pid, hostname: info.hostname, since: info.since, reason: info.reason, stale: info.stale } : { held: false });
    if (!info) return { stdout: `${opened.environment.name}: not locked` };
    return {
      stdout: `${opened.environment.name}: locked by ${info.holder} (pid ${info.pid} on ${info.hostname}) since ${info.since}: ${info.reason}${info.stale ? '\nthe holder is gone: this lock is STALE; `slipway lock release --force` removes it' : ''}`,
    };
  }
  if (action === 'release') {
    if (!options.force) throw usageError('USAGE', 'releasing a lock you do not hold needs --force', { hint: 'check `slipway lock status` first: a live update holds it for a reason' });
    const removed = await forceReleaseLock(opened.layout.lockFile);
    return { stdout: removed ? `removed the lock held by ${removed.holder} (pid ${removed.pid}) since ${removed.since}` : 'there was no lock' };
  }
  throw usageError('USAGE', 'expected `slipway lock status` or `slipway lock release --force`');
}
