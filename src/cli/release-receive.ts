import { SlipwayError, usageError } from '../errors.js';
import { isValidReleaseId } from '../host/layout.js';
import { openStore } from '../store/open-store.js';
import { copyRelease, hasRelease, receiveReleaseStream } from '../store/release-transfer.js';
import { loadObjectIndex } from '../store/objects.js';
import type { StoreConfig } from '../config/types.js';
import { openEnvironment } from './environment.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface ReleaseReceiveOptions {
  args: string[];
  id?: string;
  fromStore?: string;
  check?: boolean;
  json?: boolean;
  config?: string;
}

/**
 * Puts a release into this environment's store: from a transfer stream on stdin
 * (what `slipway deploy` sends over SSH to a host that cannot reach the store), or
 * pulled from the store described by --from-store. Used by slipway itself on hosts.
 */
export default async function releaseReceive(options: ReleaseReceiveOptions, ctx: CliContext): Promise<CommandResult> {
  const id = options.id ?? '';
  if (!isValidReleaseId(id) || !/^[0-9a-f]{64}$/.test(id)) throw usageError('RELEASE_ID_INVALID', 'expected --id <the 64-hex-digit release id>', { hint: 'see `slipway releases --json`' });
  const opened = await openEnvironment({ config: options.config, env: options.args[0] }, ctx);
  const app = opened.project.config.app;
  const store = await openStore(opened.environment.store, opened.project.dir);
  const present = await hasRelease(store, app, id);
  const done = (how: 'present' | 'pulled' | 'streamed') => (options.json ? jsonOutput({ id, how }) : { stdout: `release ${id.slice(0, 12)}: ${how}` });
  if (present) return done('present');
  if (options.check) {
    // The contents this store already holds: a sender leaves them out of the stream.
    const contents = options.json ? [...(await loadObjectIndex(store, app)).keys()] : [];
    return { stdout: options.json ? JSON.stringify({ id, how: 'missing', contents }) : `release ${id.slice(0, 12)}: missing`, exitCode: 1 };
  }
  if (options.fromStore) {
    let from: StoreConfig;
    try {
      from = JSON.parse(options.fromStore) as StoreConfig;
    } catch {
      throw usageError('STORE_INVALID', '--from-store must be the JSON of a store configuration', { hint: 'this option is for slipway itself' });
    }
    if (from.type !== 's3') throw usageError('STORE_INVALID', '--from-store takes an s3 store', { hint: 'a local store on another machine is sent over the connection instead' });
    await copyRelease({ from: await openStore(from, opened.project.dir, ctx.env), to: store, app, id });
    return done('pulled');
  }
  if (process.stdin.isTTY) throw new SlipwayError('RELEASE_STREAM_INVALID', 'expected a release stream on stdin', { exitCode: 2, hint: 'this command is for slipway itself: `slipway deploy` sends releases to hosts' });
  await receiveReleaseStream({ store, app, id, input: process.stdin });
  return done('streamed');
}
