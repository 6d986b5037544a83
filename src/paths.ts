import os from 'node:os';
import path from 'node:path';

/** Root for everything slipway keeps on this machine (local store, local hosts, keys). */
export function slipwayHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SLIPWAY_HOME;
  return path.resolve(fromEnv && fromEnv.length > 0 ? fromEnv : path.join(os.homedir(), '.slipway'));
}

/**
 * A folder only this user can use, for agent sockets whose path under the host root is
 * too long for a unix socket: slipway-<uid> in the temp folder. Its name is predictable,
 * so whoever uses it checks that it is this user's and closed to others (socket-trust.ts).
 * Not $XDG_RUNTIME_DIR: a CLI over ssh or sudo and an agent started elsewhere often
 * disagree about it, and they must find the same socket without talking.
 */
export function privateRuntimeDir(): string {
  return path.join(os.tmpdir(), `slipway-${process.getuid?.() ?? 'user'}`);
}

/**
 * Where a control socket really lives. A path in the shared temp folder (the old
 * fallback for long host roots, `slipway-<digest>.sock`) moves into the private
 * runtime folder, so neither the agent nor the CLI ever uses a name in a folder
 * other users can write to, where one of them could listen first.
 */
export function controlSocketPath(socketPath: string): string {
  const resolved = path.resolve(socketPath);
  if (path.dirname(resolved) !== path.resolve(os.tmpdir())) return resolved;
  return path.join(privateRuntimeDir(), path.basename(resolved).replace(/^slipway-/, ''));
}
