/**
 * `current` is a symlink to releases/<id>: the release a host serves. It is swapped
 * by renaming a fresh symlink over it, so a reader sees the old target or the new
 * one, never a missing link.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { fsyncDir } from '../util/atomic-write.js';
import { assertReleaseId, isValidReleaseId, releaseDir, type HostLayout } from './layout.js';

/**
 * NOTHING_DEPLOYED: the request needs a release on the host and there is none.
 * `why`: what could not be done for it. Exit code 2: nothing was done.
 */
export function nothingDeployed(o: { environment?: string; why?: string } = {}): SlipwayError {
  return new SlipwayError('NOTHING_DEPLOYED', `nothing is deployed to ${o.environment ?? 'this host'}${o.why ? `: ${o.why}` : ''}`, {
    exitCode: 2,
    hint: `deploy a release first (\`slipway deploy ${o.environment ?? '<env>'}\`)`,
  });
}

/** The id of the active release, or null when there is no `current` yet. */
export async function readCurrent(layout: HostLayout): Promise<string | null> {
  let stat;
  try {
    stat = await fs.lstat(layout.currentLink);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (!stat.isSymbolicLink()) throw corrupt(layout, 'it is not a symlink');
  const target = await fs.readlink(layout.currentLink);
  const resolved = path.resolve(layout.root, target);
  const id = path.basename(resolved);
  if (path.dirname(resolved) !== layout.releasesDir || !isValidReleaseId(id)) {
    throw corrupt(layout, `it points to ${target}, outside releases/`);
  }
  let targetStat;
  try {
    targetStat = await fs.stat(resolved);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw corrupt(layout, `its target releases/${id} is missing`);
    throw error;
  }
  if (!targetStat.isDirectory()) throw corrupt(layout, `its target releases/${id} is not a folder`);
  return id;
}

/** Points `current` at releases/<id> atomically (symlink beside it, rename over it, fsync the folder). */
export async function pointCurrentAt(layout: HostLayout, id: string): Promise<void> {
  assertReleaseId(id);
  const dir = releaseDir(layout, id);
  const stat = await fs.stat(dir).catch(() => null);
  if (!stat?.isDirectory()) {
    throw new SlipwayError('HOST_RELEASE_MISSING', `Release ${id} is not unpacked on this host (${dir} is missing).`, {
      hint: 'Fetch the release before switching to it.',
    });
  }
  // Relative, so the host root can be moved or mounted elsewhere without breaking the link.
  const target = path.join(path.basename(layout.releasesDir), id);
  const temp = `${layout.currentLink}.tmp-${randomBytes(6).toString('hex')}`;
  await fs.symlink(target, temp);
  try {
    await fs.rename(temp, layout.currentLink);
  } catch (error) {
    await fs.rm(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw corrupt(layout, 'it is a folder, not a symlink', error);
    }
    throw error;
  }
  await fsyncDir(layout.root);
}

function corrupt(layout: HostLayout, why: string, cause?: unknown): SlipwayError {
  return new SlipwayError('HOST_CURRENT_CORRUPT', `${layout.currentLink} is not a valid link to a release: ${why}.`, {
    hint: `Inspect ${layout.currentLink} by hand; slipway only ever makes it a symlink to releases/<id>. Remove it and deploy or roll back to set it again.`,
    cause,
  });
}
