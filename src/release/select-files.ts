/**
 * Chooses the entries of a release from a built tree (include / exclude globs) and
 * describes each for the manifest: regular files with their digest, symbolic links
 * with their target text. Links are never followed: a link to a folder is one entry,
 * not the folder's content. Every problem in the tree is reported at once.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { hashFileSync } from './file-hash.js';
import { startFileWorkers } from './file-workers.js';
import { compileGlobs } from './glob.js';
import { comparePaths, normalizeMode, unsafePathReason, type ManifestFile, type ManifestLink } from './manifest.js';

export interface SelectFilesOptions {
  treeDir: string;
  include: readonly string[];
  exclude: readonly string[];
  /** called as files are hashed (for a progress line) */
  onProgress?(hashedFiles: number, totalFiles: number, hashedBytes: number): void;
}

export interface SelectedEntries {
  files: ManifestFile[];
  links: ManifestLink[];
}

/** At most this many problems are listed; the count says how many more there were. */
const MAX_LISTED_PROBLEMS = 50;

/** Every kept regular file and link under treeDir (never .git), sorted by path; files hashed. */
export async function selectReleaseFiles(o: SelectFilesOptions): Promise<SelectedEntries> {
  const include = compileGlobs(o.include);
  const exclude = compileGlobs(o.exclude);
  const kept: string[] = [];
  const links: ManifestLink[] = [];
  const problems: string[] = [];
  const root = path.resolve(o.treeDir);

  // Synchronous reads: the build runs in the CLI's own process, and a tree of 50,000
  // files costs far less without a round trip through the thread pool per call.
  const walk = (abs: string, rel: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const childAbs = path.join(abs, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === '.git') continue;
        // An excluded folder excludes all it holds; no need to read it.
        if (exclude.matches(`${childRel}/`)) continue;
        walk(childAbs, childRel);
        continue;
      }
      if (exclude.matches(childRel) || (!include.empty && !include.matches(childRel))) continue;
      const unsafe = unsafePathReason(childRel);
      if (unsafe) {
        problems.push(`${JSON.stringify(childRel)}: this name cannot go into a release (${unsafe})`);
        continue;
      }
      if (entry.isSymbolicLink()) {
        links.push({ path: childRel, target: readlinkSync(childAbs) });
      } else if (entry.isFile()) {
        kept.push(childRel);
      } else {
        problems.push(`${childRel}: not a regular file, folder or link (socket, FIFO or device)`);
      }
    }
  };
  walk(root, '');
  if (problems.length > 0) {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
    if (problems.length > listed.length) listed.push(`… and ${problems.length - listed.length} more`);
    throw new SlipwayError('BUILD_TREE_INVALID', `The built tree holds ${problems.length} entr${problems.length === 1 ? 'y' : 'ies'} that cannot go into a release.`, {
      details: listed,
      hint: 'Rename them, or leave them out with build.exclude in slipway.yml (e.g. "tmp/**"); nothing was stored.',
    });
  }
  kept.sort(comparePaths);
  links.sort((a, b) => comparePaths(a.path, b.path));

  const files = kept.length >= WORKERS_FROM_FILES ? await hashInWorkers(root, kept, o.onProgress) : await hashHere(root, kept, o.onProgress);
  return { files, links };
}

/** From this many files the file workers hash them, on every core; below, starting them costs more than they save. */
const WORKERS_FROM_FILES = 500;
/** files per batch handed to a worker: few messages, and still even work for every worker */
const HASH_BATCH_FILES = 256;

type Progress = SelectFilesOptions['onProgress'];

function describe(rel: string, digest: { sha256: string; size: number; mode: number }): ManifestFile {
  return { path: rel, sha256: digest.sha256, mode: normalizeMode(digest.mode), size: digest.size };
}

async function hashHere(root: string, kept: string[], onProgress: Progress): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  let hashedBytes = 0;
  let lastReport = 0;
  for (let i = 0; i < kept.length; i++) {
    const rel = kept[i]!;
    const digest = hashFileSync(path.join(root, rel));
    hashedBytes += digest.size;
    files.push(describe(rel, digest));
    const now = Date.now();
    if (onProgress && (now - lastReport > 200 || i === kept.length - 1)) {
      lastReport = now;
      onProgress(i + 1, kept.length, hashedBytes);
    }
    // Yield now and then so timers and signals are served during a long hash.
    if (i % 2000 === 1999) await new Promise((resolve) => setImmediate(resolve));
  }
  return files;
}

async function hashInWorkers(root: string, kept: string[], onProgress: Progress): Promise<ManifestFile[]> {
  const files = new Array<ManifestFile>(kept.length);
  const workers = startFileWorkers();
  let hashedFiles = 0;
  let hashedBytes = 0;
  let lastReport = 0;
  try {
    let next = 0;
    // Each worker keeps two batches queued, so none waits for the next message.
    const feed = async (): Promise<void> => {
      while (next < kept.length) {
        const from = next;
        next = Math.min(kept.length, next + HASH_BATCH_FILES);
        const reply = await workers.run({ op: 'hash', files: kept.slice(from, next).map((rel) => `${root}/${rel}`) });
        for (let k = 0; k < reply.sha256.length; k++) {
          files[from + k] = describe(kept[from + k]!, { sha256: reply.sha256[k]!, size: reply.sizes[k]!, mode: reply.modes[k]! });
          hashedBytes += reply.sizes[k]!;
        }
        hashedFiles += reply.sha256.length;
        const now = Date.now();
        if (onProgress && (now - lastReport > 200 || hashedFiles === kept.length)) {
          lastReport = now;
          onProgress(hashedFiles, kept.length, hashedBytes);
        }
      }
    };
    await Promise.all(Array.from({ length: workers.size * 2 }, feed));
  } finally {
    await workers.close();
  }
  return files;
}
