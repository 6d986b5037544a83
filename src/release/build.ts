/**
 * `slipway build`: a git commit → an immutable release (manifest.json, optionally
 * signature.json, and the built tree its contents are read from when it is stored).
 * The build runs in a clean export of the commit, never in the work tree, and the
 * manifest holds nothing about the build machine or time, so building one commit
 * twice gives the same release id (for container services: when the engine's build
 * cache gives the same image again; see image-build.ts).
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { formatProblem, parseProjectText } from '../config/load.js';
import path from 'node:path';
import type { LoadedProject, ProjectConfig } from '../config/types.js';
import { SlipwayError, usageError } from '../errors.js';
import { commitInfo, exportCommit, exportWorkTree, isWorkTreeDirty, resolveCommit, tagAt } from './git.js';
import { canonicalManifestBytes, linkLeavesRelease, releaseIdOf, VERSION_PATTERN, type ManifestLink, type ReleaseManifest, type ReleaseRuntime } from './manifest.js';
import { treeContentSource, type ContentSource } from './content-source.js';
import { readReleaseNotes } from './notes.js';
import { packRelease } from './pack.js';
import { selectReleaseFiles } from './select-files.js';
import { signRelease } from './sign.js';
import { onLines } from '../util/line-splitter.js';
import { makeReleaseImages, tagReleaseImages, type ReleaseImages } from './image-build.js';

export interface BuildOptions {
  project: LoadedProject;
  /** default HEAD */
  ref?: string;
  /** default: the tag at the commit, else the short commit id */
  version?: string;
  /** build the work tree as it is on disk when HEAD has uncommitted changes (version gets "-dirty") */
  allowDirty?: boolean;
  /** where manifest.json and signature.json are written, and the built tree kept (tree/) until the caller removes outDir */
  outDir: string;
  signingKey?: { privateKeyPem: string };
  /** also write the release as one release.tar.gz (the format before content objects; tests of the archive reader use it) */
  archive?: boolean;
  /** each line the build commands print */
  onOutput?: (line: string) => void;
  /** files hashed so far (for a progress line) */
  onHashProgress?: (hashedFiles: number, totalFiles: number, hashedBytes: number) => void;
  /** digest → size of the contents the store already holds: image layers it has are not read out of the engine */
  knownObjects?: (sha256: string) => number | undefined;
}

export interface BuiltRelease {
  id: string;
  manifest: ReleaseManifest;
  manifestPath: string;
  signaturePath?: string;
  /** the built tree, inside outDir */
  treeDir: string;
  /** the release's file contents, read from treeDir */
  content: ContentSource;
  /** links whose target lies outside the release: the host must provide what they point at */
  externalLinks: ManifestLink[];
  /** time the project's build commands took, and the time slipway took to scan and hash the tree */
  timings: { commandsMs: number; hashMs: number };
  archivePath?: string;
  /** the container services' images: their objects go into the store before the release (putReleaseImages) */
  images?: Pick<ReleaseImages, 'objects' | 'source'>;
}

export const MANIFEST_FILE = 'manifest.json';
export const ARCHIVE_FILE = 'release.tar.gz';
export const SIGNATURE_FILE = 'signature.json';

const OUTPUT_TAIL_LINES = 20;

export async function buildRelease(o: BuildOptions): Promise<BuiltRelease> {
  const repoDir = o.project.dir;
  const ref = o.ref ?? 'HEAD';
  if (o.version !== undefined && !VERSION_PATTERN.test(o.version)) {
    throw usageError('BUILD_VERSION_INVALID', `"${o.version}" is not a usable version.`, {
      hint: 'Use letters, digits and . _ + - (e.g. 1.4.0 or v2-rc.1), at most 128 characters.',
    });
  }
  const commit = await resolveCommit(repoDir, ref);
  // A named ref other than HEAD is exported from git as committed, so local edits cannot leak in.
  const dirty = ref === 'HEAD' && (await isWorkTreeDirty(repoDir));
  if (dirty && !o.allowDirty) {
    throw usageError('BUILD_DIRTY_TREE', `The work tree in ${repoDir} has uncommitted changes; a release must come from a commit.`, {
      hint: 'Commit (or stash) the changes and build again, or pass --allow-dirty to build the files as they are (the version gets "-dirty").',
    });
  }

  await mkdir(o.outDir, { recursive: true });
  const exportDir = path.join(o.outDir, 'tree');
  await rm(exportDir, { recursive: true, force: true });
  await mkdir(exportDir);
  let kept = false;
  try {
    if (dirty) await exportWorkTree(repoDir, exportDir);
    else await exportCommit(repoDir, commit, exportDir);

    // The release runs as the commit says: its own slipway.yml, not today's working copy.
    const config = await projectConfigAt({ exportDir, project: o.project, ref, onOutput: o.onOutput });
    const info = await commitInfo(repoDir, commit);
    const baseVersion = o.version ?? (await tagAt(repoDir, commit)) ?? commit.slice(0, 7);
    if (!VERSION_PATTERN.test(baseVersion)) {
      throw usageError('BUILD_VERSION_INVALID', `The tag "${baseVersion}" cannot be used as a version.`, {
        hint: 'Pass --version with letters, digits and . _ + - only.',
      });
    }
    const version = dirty ? `${baseVersion}-dirty` : baseVersion;
    const notes = await readReleaseNotes(exportDir, baseVersion);

    const commandsStarted = Date.now();
    for (const command of config.build.commands) {
      await runBuildCommand({ command, cwd: exportDir, env: { SLIPWAY_VERSION: version, SLIPWAY_COMMIT: commit }, onOutput: o.onOutput });
    }
    const commandsMs = Date.now() - commandsStarted;

    const hashStarted = Date.now();
    const { files, links } = await selectReleaseFiles({ treeDir: exportDir, include: config.build.include, exclude: config.build.exclude, onProgress: o.onHashProgress });
    const hashMs = Date.now() - hashStarted;
    if (files.length === 0 && links.length === 0) {
      throw usageError('BUILD_NO_FILES', 'The build selected no files; a release cannot be empty.', {
        hint: 'Check build.include and build.exclude in slipway.yml.',
      });
    }

    // Container services' images: built (or resolved) and pinned by id before the manifest is written.
    const images = await makeReleaseImages({
      app: config.app,
      version,
      services: config.services,
      accessories: config.accessories,
      exportDir,
      commitDate: info.date,
      workDir: path.join(o.outDir, 'image-objects'),
      knownObjects: o.knownObjects,
      onOutput: o.onOutput,
    });

    const manifest: ReleaseManifest = {
      schema: 1,
      app: config.app,
      version,
      commit,
      message: info.message,
      date: info.date,
      dirty,
      notes,
      requiredConfig: config.config.filter((key) => key.required).map((key) => key.name).sort(),
      migrates: config.migrate !== null,
      // accessoryImages absent when there are none, so releases of other projects keep their ids
      runtime: { ...releaseRuntime(config, images?.services), ...(images?.accessoryImages.length ? { accessoryImages: images.accessoryImages } : {}) },
      files,
      ...(links.length > 0 ? { links } : {}),
      ...(config.upgrade === undefined ? {} : { upgradeFrom: config.upgrade.from }),
    };
    const id = releaseIdOf(manifest);
    if (images) await tagReleaseImages({ app: config.app, releaseId: id, ids: images.ids });

    const manifestPath = path.join(o.outDir, MANIFEST_FILE);
    const signaturePath = path.join(o.outDir, SIGNATURE_FILE);
    // The canonical bytes: a host checks them against the id by their digest alone, without re-serializing 50,000 entries.
    await writeFile(manifestPath, canonicalManifestBytes(manifest));
    let archivePath: string | undefined;
    if (o.archive) {
      archivePath = path.join(o.outDir, ARCHIVE_FILE);
      await packRelease(exportDir, manifest, archivePath);
    }
    if (o.signingKey) {
      await writeFile(signaturePath, `${JSON.stringify(signRelease({ app: manifest.app, version: manifest.version, id }, o.signingKey.privateKeyPem), null, 2)}\n`);
    } else {
      await rm(signaturePath, { force: true }); // a stale signature of an earlier build must not sit beside this one
    }
    kept = true;
    return {
      id,
      manifest,
      manifestPath,
      signaturePath: o.signingKey ? signaturePath : undefined,
      treeDir: exportDir,
      content: treeContentSource(exportDir, manifest),
      externalLinks: links.filter(linkLeavesRelease),
      timings: { commandsMs, hashMs },
      ...(archivePath ? { archivePath } : {}),
      ...(images ? { images: { objects: images.objects, source: images.source } } : {}),
    };
  } finally {
    // The tree stays for the caller to store its contents; it goes with outDir.
    if (!kept) await rm(exportDir, { recursive: true, force: true });
  }
}

/**
 * The project config as committed at the ref being built. A commit without a
 * slipway.yml falls back to the working copy's (said in the output); a committed
 * one that does not parse stops the build with every problem listed.
 */
async function projectConfigAt(o: { exportDir: string; project: BuildOptions['project']; ref: string; onOutput?: (line: string) => void }): Promise<ProjectConfig> {
  const relative = path.relative(o.project.dir, o.project.file);
  let text: string;
  try {
    text = await readFile(path.join(o.exportDir, relative), 'utf8');
  } catch {
    o.onOutput?.(`${relative} is not committed at ${o.ref}: using the working copy's`);
    return o.project.config;
  }
  const label = `${o.ref}:${relative}`;
  const parsed = parseProjectText(text, label);
  if (!parsed.config || parsed.problems.length > 0) {
    throw usageError('BUILD_CONFIG_INVALID', `${label} (the project file committed at ${o.ref}) has ${parsed.problems.length} problem(s)`, {
      details: parsed.problems.map(formatProblem),
      hint: 'fix slipway.yml in a new commit and build that commit',
    });
  }
  return parsed.config;
}

/** The parts of the project config a host needs to run the release. */
function releaseRuntime(config: ProjectConfig, services = config.services): ReleaseRuntime {
  return { services, data: config.data, migrate: config.migrate, hooks: config.hooks, config: config.config };
}

/** Runs one build command of the app's author (a shell line from slipway.yml) in the export. */
function runBuildCommand(o: { command: string; cwd: string; env: Record<string, string>; onOutput?: (line: string) => void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    const child = spawn('sh', ['-c', o.command], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const emit = (line: string) => {
      tail.push(line);
      if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
      o.onOutput?.(line);
    };
    onLines(child.stdout, emit);
    onLines(child.stderr, emit);
    child.on('error', (error) => {
      reject(new SlipwayError('BUILD_COMMAND_FAILED', `Build command could not start: ${o.command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(
        new SlipwayError('BUILD_COMMAND_FAILED', `Build command failed (${how}): ${o.command}`, {
          details: [...tail],
          hint: 'Fix the build (its last output is shown above) and build again; the command runs in a clean export of the commit.',
        }),
      );
    });
  });
}
