/** Checks of the host's folders: the host root can be written, and the env file keeps its secrets to its owner. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errorText, result, type DoctorCheck } from './check-result.js';

/** The host root must be a folder slipway can write (or create: its nearest existing parent must be one). */
export async function checkHostRoot(root: string): Promise<DoctorCheck> {
  let at = path.resolve(root);
  let stat: import('node:fs').Stats | null = null;
  for (;;) {
    try {
      stat = await fs.stat(at);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path.dirname(at) === at) {
        return result('host root', 'fail', `cannot look at ${at}: ${errorText(error)}`, `check the permissions of the folders above ${root}`);
      }
      at = path.dirname(at);
    }
  }
  if (!stat.isDirectory()) {
    return result('host root', 'fail', `${at} is a file, not a folder${at === path.resolve(root) ? '' : ` (the host root ${root} would be inside it)`}`, `move ${at} aside, or set environments.<env>.root in slipway.yml to another folder`);
  }
  const creating = at !== path.resolve(root);
  try {
    // A real write: permission bits do not tell the whole story (read-only mounts, root's bypass of modes).
    const probe = await fs.mkdtemp(path.join(at, '.slipway-doctor-'));
    await fs.rm(probe, { recursive: true, force: true });
  } catch (error) {
    return result('host root', 'fail', `cannot write in ${at}: ${errorText(error)}`, `make ${at} writable by ${process.env.USER ?? 'the user running slipway'} (and not on a read-only mount), or set environments.<env>.root to a folder that is`);
  }
  return result('host root', 'ok', creating ? `${root} does not exist yet; ${at} is writable, so it can be created` : `${root} is writable`);
}

/** shared/.env holds secrets: owner only. */
export async function checkEnvFile(file: string): Promise<DoctorCheck> {
  let stat: import('node:fs').Stats;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result('env file', 'ok', `no env file at ${file} (none needed until a release declares config keys)`);
    return result('env file', 'fail', `cannot read ${file}: ${errorText(error)}`, `check the permissions of ${path.dirname(file)}`);
  }
  if (!stat.isFile()) return result('env file', 'fail', `${file} is not a file`, `remove it and set config with \`slipway config <env> set KEY=VALUE\``);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    return result('env file', 'fail', `${file} is mode ${mode.toString(8)}: other users can read the app's secrets`, `chmod 600 ${file}`);
  }
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    return result('env file', 'warn', `${file} belongs to uid ${stat.uid}, not to the user running slipway (uid ${process.getuid()})`, `chown ${process.getuid()} ${file}, or run slipway as its owner`);
  }
  return result('env file', 'ok', `${file} is mode 600`);
}
