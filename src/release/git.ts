/**
 * The git questions and exports a build needs. Always argument arrays, never a shell.
 * Every call runs in the project folder, so a slipway.yml in a subfolder of a repository
 * builds (and exports) only that subfolder, as `git archive` does from a subfolder.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, chmod, lstat, mkdir, readlink, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import * as tar from 'tar';
import { SlipwayError } from '../errors.js';

const execFileAsync = promisify(execFile);

export interface CommitInfo {
  commit: string;
  /** subject and body */
  message: string;
  /** commit date, ISO 8601 in UTC */
  date: string;
}

async function git(repoDir: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('git', args, { cwd: repoDir, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new SlipwayError('GIT_NOT_FOUND', 'git is not installed (or not on PATH).', { hint: 'Install git; slipway builds releases from git commits.' });
    }
    const stderr = (e.stderr ?? '').trim();
    if (/not a git repository/i.test(stderr)) {
      throw new SlipwayError('GIT_NOT_A_REPOSITORY', `${repoDir} is not inside a git repository.`, {
        exitCode: 2,
        hint: 'Run `git init` and commit the app first; releases are built from commits.',
      });
    }
    throw new SlipwayError('GIT_FAILED', `git ${args[0]} failed: ${stderr.split('\n')[0] || e.message}`, { cause: error, details: stderr ? stderr.split('\n') : [] });
  }
}

/** Resolves a ref (tag, branch, commit id, HEAD~1, …) to the full id of a commit. */
export async function resolveCommit(repoDir: string, ref: string): Promise<string> {
  const notFound = () =>
    new SlipwayError('GIT_REF_NOT_FOUND', `Git ref "${ref}" does not name a commit in ${repoDir}.`, {
      exitCode: 2,
      hint: 'List tags with `git tag --list` and branches with `git branch --all`; any commit id works too.',
    });
  // A ref starting with '-' would be read as an option.
  if (ref.length === 0 || ref.startsWith('-')) throw notFound();
  try {
    return (await git(repoDir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim();
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'GIT_FAILED') throw notFound();
    throw error;
  }
}

export async function commitInfo(repoDir: string, commit: string): Promise<CommitInfo> {
  const out = await git(repoDir, ['show', '-s', '--format=%H%x00%cI%x00%B', commit]);
  const [id, date, ...message] = out.split('\0');
  return { commit: id.trim(), date: new Date(date).toISOString(), message: message.join('\0').trimEnd() };
}

const VERSION_TAG = /^v?\d+(\.\d+)*([-+.][0-9A-Za-z.+-]*)?$/;

/** A tag pointing exactly at the commit, or undefined. Version-like tags (v1.2.3) win, highest first. */
export async function tagAt(repoDir: string, commit: string): Promise<string | undefined> {
  const tags = (await git(repoDir, ['tag', '--points-at', commit])).split('\n').map((t) => t.trim()).filter(Boolean);
  if (tags.length === 0) return undefined;
  const versionTags = tags.filter((t) => VERSION_TAG.test(t));
  const pool = versionTags.length > 0 ? versionTags : tags;
  return [...pool].sort((a, b) => b.replace(/^v/, '').localeCompare(a.replace(/^v/, ''), 'en', { numeric: true }))[0];
}

/** True when tracked files differ from HEAD or untracked, not-ignored files exist (in the project folder). */
export async function isWorkTreeDirty(repoDir: string): Promise<boolean> {
  const out = await git(repoDir, ['status', '--porcelain', '-z', '--untracked-files=normal', '--', '.']);
  return out.length > 0;
}

/** Extracts the commit's tree into destDir, streaming `git archive` into the tar extractor. */
export async function exportCommit(repoDir: string, commit: string, destDir: string): Promise<void> {
  await mkdir(destDir, { recursive: true });
  const child = spawn('git', ['archive', '--format=tar', commit], { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 64 * 1024) stderr += chunk;
  });
  // Links are exported exactly as committed (absolute or climbing targets included): a
  // release keeps them as links. git never stores an entry under a link or with a '..'
  // segment, so keeping paths as they are writes nothing outside destDir.
  const extractor = tar.x({ cwd: destDir, strict: true, preservePaths: true });
  const extracted = new Promise<void>((resolve, reject) => {
    extractor.on('close', () => resolve());
    extractor.on('error', (error: unknown) => {
      child.kill(); // nobody reads git's output any more; it must not block on a full pipe
      reject(error);
    });
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  child.stdout.pipe(extractor);
  // git's own failure explains more than the extractor's complaint about an empty stream.
  const [exit, extraction] = await Promise.allSettled([exited, extracted]);
  if (exit.status === 'rejected') {
    throw new SlipwayError('GIT_NOT_FOUND', `Could not run git archive: ${(exit.reason as Error).message}`, { cause: exit.reason, hint: 'Install git.' });
  }
  if (exit.value !== 0 && extraction.status === 'fulfilled') {
    throw new SlipwayError('GIT_ARCHIVE_FAILED', `git archive ${commit.slice(0, 7)} failed (exit code ${exit.value}).`, { details: stderr.trim().split('\n') });
  }
  if (extraction.status === 'rejected') {
    const reason = exit.value !== 0 && stderr.trim() ? stderr.trim().split('\n')[0] : (extraction.reason as Error).message;
    throw new SlipwayError('GIT_ARCHIVE_FAILED', `Could not export commit ${commit.slice(0, 7)}: ${reason}`, { cause: extraction.reason });
  }
}

/**
 * Copies the work tree as it is on disk (tracked files plus untracked files that are not
 * ignored) into destDir. Used by `--allow-dirty`. Submodules are not copied (git archive
 * leaves them out too); symbolic links are copied as links, for the build to judge.
 */
export async function exportWorkTree(repoDir: string, destDir: string): Promise<void> {
  const out = await git(repoDir, ['ls-files', '-co', '--exclude-standard', '-z']);
  const files = [...new Set(out.split('\0').filter(Boolean))];
  await mkdir(destDir, { recursive: true });
  for (const rel of files) {
    const from = path.join(repoDir, rel);
    const to = path.join(destDir, rel);
    let stat;
    try {
      stat = await lstat(from);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // tracked but deleted on disk
      throw error;
    }
    if (!stat.isFile() && !stat.isSymbolicLink()) continue;
    await mkdir(path.dirname(to), { recursive: true });
    if (stat.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else {
      await copyFile(from, to);
      await chmod(to, stat.mode & 0o777);
    }
  }
}
