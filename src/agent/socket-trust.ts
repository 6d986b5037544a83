/**
 * The control socket is trusted for what it is: the agent of this host. The CLI talks
 * to it only when its folder and the socket belong to this user (or root) and no one
 * else may write to them; the agent listens only in such a folder. Another user of the
 * machine can therefore neither answer in the agent's place nor swap the socket.
 */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';

const WRITABLE_BY_OTHERS = 0o022;

function me(): number | null {
  return process.getuid?.() ?? null;
}

function ownerName(uid: number): string {
  return uid === 0 ? 'root' : `uid ${uid}`;
}

function untrusted(socketPath: string, why: string, hint: string): SlipwayError {
  return new SlipwayError('AGENT_SOCKET_UNTRUSTED', `refusing to talk to the agent socket ${socketPath}: ${why}`, { hint });
}

/** Why a folder or socket is not to be trusted, or null. */
function problem(stat: Stats, what: string, uid: number): string | null {
  if (stat.uid !== uid && stat.uid !== 0) return `${what} belongs to ${ownerName(stat.uid)}, not to you (${ownerName(uid)})`;
  if ((stat.mode & WRITABLE_BY_OTHERS) !== 0) return `${what} is writable by other users (mode ${(stat.mode & 0o7777).toString(8)})`;
  return null;
}

/**
 * Throws AGENT_SOCKET_UNTRUSTED unless `socketPath` and its folder are this user's (or
 * root's), the same user's, and writable by no one else. A missing socket or folder is
 * left to the connection (the agent is not running).
 */
export async function assertTrustedSocket(socketPath: string): Promise<void> {
  const uid = me();
  if (uid === null) return; // no users to tell apart (Windows): nothing to check
  const dir = path.dirname(socketPath);
  let dirStat: Stats;
  let sockStat: Stats;
  try {
    dirStat = await fs.lstat(dir);
    sockStat = await fs.lstat(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const hint = `the agent's socket must be in a folder only its user can write to; stop whatever listens there, remove ${socketPath}, and start the agent again as the user who runs slipway`;
  if (!dirStat.isDirectory()) throw untrusted(socketPath, `${dir} is not a folder (a symbolic link?)`, hint);
  const why = problem(dirStat, `its folder ${dir}`, uid) ?? problem(sockStat, 'the socket', uid);
  if (why) throw untrusted(socketPath, why, hint);
  if (!sockStat.isSocket()) throw untrusted(socketPath, 'it is not a socket', hint);
  if (sockStat.uid !== dirStat.uid) throw untrusted(socketPath, `the socket belongs to ${ownerName(sockStat.uid)} but its folder to ${ownerName(dirStat.uid)}`, hint);
}

/**
 * Creates the socket's folder when missing (0700) and throws CONTROL_SOCKET_FOLDER_UNSAFE
 * unless it is this user's and writable by no one else: the agent does not listen where
 * another user could replace its socket.
 */
export async function preparePrivateSocketFolder(socketPath: string): Promise<void> {
  const uid = me();
  const dir = path.dirname(socketPath);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (uid === null) return;
  const stat = await fs.lstat(dir);
  const why = !stat.isDirectory()
    ? 'it is not a folder (a symbolic link?)'
    : stat.uid !== uid
      ? `it belongs to ${ownerName(stat.uid)}, not to the agent's user (${ownerName(uid)})`
      : (stat.mode & WRITABLE_BY_OTHERS) !== 0
        ? `other users may write to it (mode ${(stat.mode & 0o7777).toString(8)})`
        : null;
  if (why) {
    throw new SlipwayError('CONTROL_SOCKET_FOLDER_UNSAFE', `the agent will not listen in ${dir}: ${why}`, {
      hint: `remove ${dir} (or make it yours with mode 0700) and start the agent again`,
    });
  }
}
