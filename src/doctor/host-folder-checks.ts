/**
 * Checks of the host's folders: the host root can be written, the env file keeps its secrets
 * to its owner, and other users of the machine cannot look at the host's state.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { HOST_ROOT_MODE } from '../host/layout.js';
import { LEDGER_FILE_MODE, ledgerFiles } from '../host/ledger.js';
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

/**
 * Other users of the machine see nothing of the host's state: the root is 0750 or tighter, and
 * the ledger (deployment history, error messages) and its -wal/-shm are 0600. The agent sets
 * these modes when it starts; this reports a host it has not fixed yet, or one changed by hand.
 */
export async function checkHostFileModes(o: { root: string; ledgerFile: string }): Promise<DoctorCheck> {
  const wider: string[] = [];
  const fixes: string[] = [];
  const modeOf = async (file: string): Promise<number | null> => {
    try {
      return (await fs.stat(file)).mode & 0o777;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };
  let rootMode: number | null;
  let ledgerSeen = false;
  try {
    rootMode = await modeOf(o.root);
    if (rootMode === null) return result('file modes', 'ok', `${o.root} does not exist yet: the agent creates it mode ${HOST_ROOT_MODE.toString(8)}`);
    if ((rootMode & ~HOST_ROOT_MODE & 0o777) !== 0) {
      wider.push(`the host root ${o.root} is mode ${rootMode.toString(8)}: ${rootMode & 0o007 ? 'other users can look inside' : 'its group can change it'}`);
      fixes.push(`chmod ${(rootMode & HOST_ROOT_MODE).toString(8)} ${o.root}`);
    }
    const loose: string[] = [];
    for (const file of ledgerFiles(o.ledgerFile)) {
      const mode = await modeOf(file);
      if (mode !== null) ledgerSeen = true;
      if (mode !== null && (mode & ~LEDGER_FILE_MODE & 0o777) !== 0) {
        wider.push(`${file} is mode ${mode.toString(8)}: other users can read the deployment history`);
        loose.push(file);
      }
    }
    if (loose.length > 0) fixes.push(`chmod ${LEDGER_FILE_MODE.toString(8)} ${loose.join(' ')}`);
  } catch (error) {
    return result('file modes', 'fail', `cannot look at ${o.root}: ${errorText(error)}`, `run slipway as the user that owns ${o.root}`);
  }
  if (wider.length > 0) return result('file modes', 'fail', wider.join('; '), `${fixes.join(' && ')} (the agent also narrows them when it starts)`);
  return result('file modes', 'ok', `${o.root} is mode ${rootMode.toString(8)}${ledgerSeen ? `, the ledger ${LEDGER_FILE_MODE.toString(8)}` : ''}: other users see nothing`);
}
