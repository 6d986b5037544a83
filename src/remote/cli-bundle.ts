/**
 * The CLI bundle: a tar.gz of this slipway installation that `slipway setup` ships to a
 * remote host. It holds package.json, bin/, dist/src/ and the production dependency
 * closure of node_modules, so it runs on any host with the same Node major, platform and
 * architecture (better-sqlite3 is a native addon built for this Node's ABI).
 *
 * Deterministic: entries are sorted, times, owners and modes normalized, so the same
 * installation always gives the same bytes and sha256 (the host side can skip an upload
 * when it already has that sha256).
 */
import { createHash } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pack } from 'tar';
import { SlipwayError } from '../errors.js';
import { hashFile } from '../release/file-hash.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { writePackToFile } from '../util/tar-file.js';
import { listBundleEntries, type BundleEntry } from './cli-bundle-entries.js';
import { readPackageJson } from './cli-bundle-packages.js';

export interface CliBundle {
  /** absolute path of the .tar.gz (in the cache folder) */
  file: string;
  sha256: string;
  /** bytes */
  size: number;
  /** slipway's version, from package.json */
  version: string;
  /** the Node major the bundle was built with (and its native addons for) */
  nodeMajor: number;
  /** process.arch of the machine that built it, e.g. x64, arm64 */
  arch: string;
  /** process.platform of the machine that built it, e.g. linux */
  platform: string;
}

/** Bumped whenever what goes into a bundle changes, so cached bundles of an older layout are not reused. */
const BUNDLE_FORMAT = 1;
/** Entry times in the archive; any fixed value keeps the bytes stable. */
const ENTRY_TIME = new Date('2000-01-01T00:00:00Z');
/** Bundles kept in the cache folder (the newest); older ones are deleted after a build. */
const CACHED_BUNDLES_KEPT = 3;

/** The folder holding slipway's package.json, from this module's place in dist/src/remote/. */
export function installDirOfThisSlipway(): string {
  return path.resolve(fileURLToPath(new URL('../../../', import.meta.url)));
}

/**
 * Builds the bundle of the installation in `installDir`, or returns the one already in
 * `cacheDir` when no input changed (the cache key is a digest of every input's path,
 * size, mode and mtime, plus the Node major, platform and architecture).
 */
export async function createCliBundle(options: { installDir: string; cacheDir: string }): Promise<CliBundle> {
  const installDir = path.resolve(options.installDir);
  const cacheDir = path.resolve(options.cacheDir);
  const pkg = await readPackageJson(installDir);
  const entries = await listBundleEntries(installDir);
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  const target = { nodeMajor, arch: process.arch, platform: process.platform };

  const key = createHash('sha256');
  key.update(`${BUNDLE_FORMAT}\n${nodeMajor}\n${target.platform}\n${target.arch}\n`);
  for (const entry of entries) key.update(`${entry.path}\0${entry.source}\0${entry.stat.size}\0${entry.stat.mode}\0${entry.stat.mtimeMs}\n`);
  const baseName = `slipway-${safeFilePart(pkg.version)}-node${nodeMajor}-${target.platform}-${target.arch}-${key.digest('hex').slice(0, 16)}`;
  const file = path.join(cacheDir, `${baseName}.tar.gz`);
  const infoFile = path.join(cacheDir, `${baseName}.json`);

  await fs.mkdir(cacheDir, { recursive: true });
  const cached = await readCachedInfo(infoFile, file);
  if (cached) return { file, sha256: cached.sha256, size: cached.size, version: pkg.version, ...target };

  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await writeArchive(entries, temp);
    const { sha256, size } = await hashFile(temp);
    await fs.rename(temp, file);
    await writeFileAtomic(infoFile, `${JSON.stringify({ sha256, size, version: pkg.version, ...target }, null, 2)}\n`);
    await pruneCache(cacheDir, file);
    return { file, sha256, size, version: pkg.version, ...target };
  } catch (error) {
    await fs.rm(temp, { force: true });
    if (error instanceof SlipwayError) throw error;
    throw new SlipwayError('BUNDLE_WRITE_FAILED', `could not write the slipway bundle to ${cacheDir}: ${(error as Error).message}`, {
      cause: error,
      hint: `check that ${cacheDir} is a folder you can write to and that the disk has room`,
    });
  }
}

async function writeArchive(entries: BundleEntry[], archivePath: string): Promise<void> {
  const bundlePathOf = new Map<string, string>();
  // tar reads modes, link counts and sizes from these stats: nlink 1 keeps hard links
  // (their targets would not be relocated) out of the archive.
  const statCache = new Map<string, Stats>();
  for (const entry of entries) {
    bundlePathOf.set(entry.source, entry.path);
    const stat = Object.assign(Object.create(Object.getPrototypeOf(entry.stat) as object) as Stats, entry.stat, { nlink: 1 });
    statCache.set(entry.source, stat);
  }
  // Pack directly rather than tar.c(): tar.c reads a file list entry starting with '@' as an archive to splice in.
  const pack = new Pack({
    cwd: path.parse(process.cwd()).root,
    preservePaths: true,
    gzip: { level: 9 },
    portable: true,
    noDirRecurse: true,
    mtime: ENTRY_TIME,
    statCache,
    strict: true,
    onWriteEntry: (entry) => {
      const bundlePath = bundlePathOf.get(entry.absolute);
      if (bundlePath === undefined) throw new Error(`unexpected entry ${entry.absolute} in the bundle`);
      entry.path = bundlePath;
    },
  });
  await writePackToFile(pack, archivePath, entries.map((entry) => entry.source));
}

async function readCachedInfo(infoFile: string, file: string): Promise<{ sha256: string; size: number } | null> {
  try {
    const info = JSON.parse(await fs.readFile(infoFile, 'utf8')) as { sha256?: unknown; size?: unknown };
    const { size } = await fs.stat(file);
    if (typeof info.sha256 === 'string' && /^[0-9a-f]{64}$/.test(info.sha256) && info.size === size) return { sha256: info.sha256, size };
  } catch {
    // no usable cached bundle: build one
  }
  return null;
}

async function pruneCache(cacheDir: string, keepFile: string): Promise<void> {
  const names = (await fs.readdir(cacheDir)).filter((name) => name.startsWith('slipway-') && name.endsWith('.tar.gz'));
  const withTimes = await Promise.all(
    names.map(async (name) => ({ name, mtimeMs: (await fs.stat(path.join(cacheDir, name)).catch(() => null))?.mtimeMs ?? 0 })),
  );
  withTimes.sort((a, b) => b.mtimeMs - a.mtimeMs);
  const kept = new Set([path.basename(keepFile), ...withTimes.slice(0, CACHED_BUNDLES_KEPT).map((item) => item.name)]);
  for (const { name } of withTimes) {
    if (kept.has(name)) continue;
    await fs.rm(path.join(cacheDir, name), { force: true });
    await fs.rm(path.join(cacheDir, name.replace(/\.tar\.gz$/, '.json')), { force: true });
  }
}

function safeFilePart(text: string): string {
  return text.replace(/[^A-Za-z0-9.+-]+/g, '_');
}
