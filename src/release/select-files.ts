/**
 * Chooses the files of a release from a built tree (include / exclude globs) and describes
 * each one for the manifest.
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { hashFile, mapLimit } from './file-hash.js';
import { compileGlobs } from './glob.js';
import { comparePaths, normalizeMode, unsafePathReason, type ManifestFile } from './manifest.js';

export interface SelectFilesOptions {
  treeDir: string;
  include: readonly string[];
  exclude: readonly string[];
}

/** Every kept regular file under treeDir (never .git), hashed, sorted by path. */
export async function selectReleaseFiles(o: SelectFilesOptions): Promise<ManifestFile[]> {
  const include = compileGlobs(o.include);
  const exclude = compileGlobs(o.exclude);
  const kept: string[] = [];

  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const entry of await readdir(abs, { withFileTypes: true })) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const childAbs = path.join(abs, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === '.git') continue;
        // An excluded folder excludes all it holds; no need to read it.
        if (exclude.matches(`${childRel}/`)) continue;
        await walk(childAbs, childRel);
        continue;
      }
      if (exclude.matches(childRel) || (!include.empty && !include.matches(childRel))) continue;
      if (entry.isSymbolicLink()) {
        throw new SlipwayError('BUILD_SYMLINK', `The built tree holds a symbolic link: ${childRel}. Releases cannot contain links yet.`, {
          exitCode: 2,
          hint: `Leave it out with build.exclude (e.g. "${childRel}"), or make the build copy the file instead of linking it.`,
        });
      }
      if (!entry.isFile()) {
        throw new SlipwayError('BUILD_SPECIAL_FILE', `The built tree holds ${childRel}, which is not a regular file (socket, FIFO or device).`, {
          exitCode: 2,
          hint: `Leave it out with build.exclude (e.g. "${childRel}").`,
        });
      }
      const unsafe = unsafePathReason(childRel);
      if (unsafe) {
        throw new SlipwayError('BUILD_UNSAFE_PATH', `The built tree holds a file whose name cannot go into a release: ${JSON.stringify(childRel)} (${unsafe}).`, {
          exitCode: 2,
          hint: 'Rename the file, or leave it out with build.exclude.',
        });
      }
      kept.push(childRel);
    }
  };
  await walk(path.resolve(o.treeDir), '');
  kept.sort(comparePaths);

  return mapLimit(kept, 8, async (rel) => {
    const abs = path.join(o.treeDir, rel);
    const [stat, digest] = await Promise.all([lstat(abs), hashFile(abs)]);
    return { path: rel, sha256: digest.sha256, mode: normalizeMode(stat.mode), size: digest.size };
  });
}
