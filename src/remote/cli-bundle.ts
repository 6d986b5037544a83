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
import { createReadStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pack } from 'tar';
import { SlipwayError } from '../errors.js';
import { writePackToFile } from '../util/tar-file.js';

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
/** Files only needed to compile a native addon: the bundle runs on the ABI it was built for. */
const NATIVE_BUILD_ONLY = /\.(c|cc|cpp|cxx|h|hh|hpp|gyp|gypi|o|a|mk|d)$/i;
/**
 * Never loaded by Node from node_modules: type declarations, TypeScript sources (Node does
 * not strip types under node_modules) and source maps. About half of the bytes installed.
 */
const NOT_LOADED_AT_RUN_TIME = /\.([cm]?ts|map)$/i;
/** node-gyp's intermediate objects (build/Release/obj.target/… holds a second copy of each addon). */
const NATIVE_OBJECT_FOLDER = /^build\/.*\/(obj|obj\.target|\.deps)(\/|$)/;

/** One file or symlink of the bundle: where it is read from, and its path in the archive. */
export interface BundleEntry {
  source: string;
  /** POSIX path inside the archive, e.g. node_modules/yaml/package.json */
  path: string;
  stat: Stats;
}

/** A package of the production dependency closure: its folder here and in the bundle. */
export interface BundledPackage {
  name: string;
  version: string;
  dir: string;
  /** POSIX folder inside the bundle, e.g. node_modules/@aws-sdk/client-s3 */
  bundleDir: string;
}

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
    const sha256 = await sha256OfFile(temp);
    const { size } = await fs.stat(temp);
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

/**
 * What a host must match to run the bundle: the same Node major (native addons are built
 * for one ABI), platform and architecture. `host.arch`/`platform` may be Node's names
 * (x64, linux) or `uname -m`/`uname -s` output (x86_64, Linux).
 */
export function checkBundleCompatible(bundle: CliBundle, host: { nodeVersion: string | null; arch: string; platform: string }): void {
  const needed = `Node ${bundle.nodeMajor} on ${bundle.platform}/${bundle.arch}`;
  const hostPlatform = normalizePlatform(host.platform);
  const hostArch = normalizeArch(host.arch);
  const hostMajor = host.nodeVersion === null ? null : nodeMajorOf(host.nodeVersion);
  const hostNode = host.nodeVersion === null ? 'no Node' : `Node ${host.nodeVersion.trim().replace(/^v/, '')}`;
  const has = `${hostNode} on ${hostPlatform}/${hostArch}`;

  if (hostPlatform !== bundle.platform || hostArch !== bundle.arch) {
    throw new SlipwayError('BUNDLE_INCOMPATIBLE', `the slipway bundle needs ${needed}; the host has ${has}`, {
      hint: `run \`slipway setup\` from a machine of the host's kind (${hostPlatform}/${hostArch}, e.g. a CI runner), or install slipway on the host with npm and Node ${bundle.nodeMajor}`,
      details: [`bundle: slipway ${bundle.version}, ${needed}`, `host: ${has}`],
    });
  }
  if (hostMajor !== bundle.nodeMajor) {
    throw new SlipwayError('BUNDLE_INCOMPATIBLE', `the slipway bundle needs ${needed}; the host has ${has}`, {
      hint:
        hostMajor === null
          ? `install Node ${bundle.nodeMajor} on the host (node must be on the SSH user's PATH), then run setup again`
          : `install Node ${bundle.nodeMajor} on the host (node must be on the SSH user's PATH), or run \`slipway setup\` with Node ${hostMajor} here, then run setup again`,
      details: [`bundle: slipway ${bundle.version}, ${needed}`, `host: ${has}`],
    });
  }
}

/** Every file of the bundle, sorted by archive path: package.json, bin/, dist/src/ and the production node_modules. */
export async function listBundleEntries(installDir: string): Promise<BundleEntry[]> {
  const root = path.resolve(installDir);
  const entries: BundleEntry[] = [];
  const add = async (source: string, bundlePath: string) => entries.push({ source, path: bundlePath, stat: await fs.lstat(source) });

  await add(path.join(root, 'package.json'), 'package.json');
  for (const folder of ['bin', path.join('dist', 'src')]) {
    const dir = path.join(root, folder);
    if (!(await isDirectory(dir))) {
      throw new SlipwayError('BUNDLE_NOT_BUILT', `${dir} is missing, so there is no slipway to bundle`, {
        hint: folder === 'bin' ? 'run setup from a complete slipway installation' : `build slipway first: \`npm run build\` in ${root}`,
      });
    }
    // Source maps point at src/*.ts, which is not shipped.
    await walkFiles(dir, toPosix(folder), (file) => !file.endsWith('.map'), async (source, bundlePath) => add(source, bundlePath));
  }
  for (const pkg of await productionPackages(root)) {
    const native = await isFile(path.join(pkg.dir, 'binding.gyp'));
    // Of a native addon's build/ folder only the compiled .node files are needed at run time.
    const keepNative = (relative: string, isDirectory: boolean) =>
      NATIVE_OBJECT_FOLDER.test(relative)
        ? false
        : isDirectory || (relative.startsWith('build/') ? relative.endsWith('.node') : !NATIVE_BUILD_ONLY.test(relative));
    // A package's own node_modules holds nested dependencies: those come in through the walk, if needed.
    const keep = (relative: string, isDirectory: boolean) =>
      relative !== 'node_modules' && (isDirectory || !NOT_LOADED_AT_RUN_TIME.test(relative)) && (!native || keepNative(relative, isDirectory));
    await walkFiles(pkg.dir, '', keep, (source, relative) => add(source, `${pkg.bundleDir}/${relative}`));
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < entries.length; i += 1) {
    if (entries[i]!.path === entries[i - 1]!.path) {
      throw new SlipwayError('BUNDLE_LAYOUT_CONFLICT', `two files would be ${entries[i]!.path} in the bundle: ${entries[i - 1]!.source} and ${entries[i]!.source}`, {
        hint: 'reinstall slipway in a folder of its own (`npm install -g slipway`, or a fresh `npm ci` in a checkout)',
      });
    }
  }
  return entries;
}

/**
 * The production dependency closure of the package in `installDir`: its `dependencies`,
 * then theirs, resolved the way Node does (nearest node_modules upwards). Optional
 * dependencies and peers that are not installed are skipped; devDependencies are never
 * followed. Sorted by folder in the bundle.
 */
export async function productionPackages(installDir: string): Promise<BundledPackage[]> {
  const root = path.resolve(installDir);
  const found = new Map<string, BundledPackage>();
  const queue: { dir: string; manifest: PackageManifest }[] = [{ dir: root, manifest: await readPackageJson(root) }];
  while (queue.length > 0) {
    const { dir, manifest } = queue.shift()!;
    for (const dependency of runtimeDependencies(manifest)) {
      const resolved = await resolvePackageDir(dependency.name, dir, root);
      if (resolved === null) {
        if (dependency.optional) continue;
        throw new SlipwayError('BUNDLE_DEPENDENCY_MISSING', `${dependency.name}, a dependency of ${manifest.name ?? dir}, is not installed, so slipway cannot be bundled`, {
          hint: `run \`npm install\` in ${root} and try again`,
        });
      }
      if (found.has(resolved.dir)) continue;
      const depManifest = await readPackageJson(resolved.dir);
      const pkg: BundledPackage = { name: dependency.name, version: depManifest.version ?? '0.0.0', dir: resolved.dir, bundleDir: resolved.bundleDir };
      found.set(resolved.dir, pkg);
      queue.push({ dir: resolved.dir, manifest: depManifest });
    }
  }
  return [...found.values()].sort((a, b) => (a.bundleDir < b.bundleDir ? -1 : a.bundleDir > b.bundleDir ? 1 : 0));
}

interface PackageManifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

function runtimeDependencies(manifest: PackageManifest): { name: string; optional: boolean }[] {
  const result = new Map<string, boolean>();
  for (const name of Object.keys(manifest.dependencies ?? {})) result.set(name, false);
  for (const name of Object.keys(manifest.optionalDependencies ?? {})) result.set(name, true);
  // Peers are provided by whoever installs the package; when installed they are part of its runtime.
  for (const name of Object.keys(manifest.peerDependencies ?? {})) {
    if (!result.has(name)) result.set(name, true);
  }
  // An optional peer may well be a devDependency of the root (typescript is a common one): not followed.
  for (const [name, meta] of Object.entries(manifest.peerDependenciesMeta ?? {})) {
    if (meta.optional === true && !Object.hasOwn(manifest.dependencies ?? {}, name)) result.delete(name);
  }
  return [...result.entries()].map(([name, optional]) => ({ name, optional }));
}

/**
 * Where `require(name)` from a package in `fromDir` lands, and its place in the bundle.
 * A package hoisted above the installation (slipway installed inside another project) is
 * placed at the same path relative to the node_modules it was found in.
 */
async function resolvePackageDir(name: string, fromDir: string, installDir: string): Promise<{ dir: string; bundleDir: string } | null> {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const candidate = path.join(dir, 'node_modules', name);
      if (await isFile(path.join(candidate, 'package.json'))) {
        const inside = isWithin(candidate, installDir);
        const base = inside ? installDir : outsideBase(candidate, installDir);
        return { dir: candidate, bundleDir: toPosix(path.relative(base, candidate)) };
      }
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** The deepest ancestor of the installation whose node_modules holds `dir`. */
function outsideBase(dir: string, installDir: string): string {
  for (let ancestor = path.dirname(installDir); ; ancestor = path.dirname(ancestor)) {
    if (isWithin(dir, path.join(ancestor, 'node_modules'))) return ancestor;
    if (path.dirname(ancestor) === ancestor) return ancestor;
  }
}

function isWithin(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** Calls `onFile` for every file and symlink under `dir` (sorted walk); `keep` sees POSIX paths relative to `dir`, folders included. */
async function walkFiles(
  dir: string,
  prefix: string,
  keep: (relative: string, isDirectory: boolean) => boolean,
  onFile: (source: string, bundlePath: string) => Promise<unknown>,
  relativeDir = '',
): Promise<void> {
  const names = (await fs.readdir(path.join(dir, relativeDir), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const dirent of names) {
    const relative = relativeDir === '' ? dirent.name : `${relativeDir}/${dirent.name}`;
    if (!keep(relative, dirent.isDirectory())) continue;
    if (dirent.isDirectory()) await walkFiles(dir, prefix, keep, onFile, relative);
    else if (dirent.isFile() || dirent.isSymbolicLink()) await onFile(path.join(dir, relative), prefix === '' ? relative : `${prefix}/${relative}`);
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

async function readPackageJson(dir: string): Promise<PackageManifest & { version: string }> {
  const file = path.join(dir, 'package.json');
  let manifest: PackageManifest;
  try {
    manifest = JSON.parse(await fs.readFile(file, 'utf8')) as PackageManifest;
  } catch (error) {
    throw new SlipwayError('BUNDLE_PACKAGE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
      hint: 'reinstall slipway (or run `npm install` in its checkout) and try again',
    });
  }
  return { ...manifest, version: typeof manifest.version === 'string' ? manifest.version : '0.0.0' };
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function writeFileAtomic(file: string, content: string): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, content, { mode: 0o644 });
  await fs.rename(temp, file);
}

async function isDirectory(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isDirectory(), () => false);
}

async function isFile(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isFile(), () => false);
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

function safeFilePart(text: string): string {
  return text.replace(/[^A-Za-z0-9.+-]+/g, '_');
}

function nodeMajorOf(version: string): number | null {
  const match = /^\s*v?(\d+)\./.exec(version) ?? /^\s*v?(\d+)\s*$/.exec(version);
  return match ? Number(match[1]) : null;
}

/** Node's process.arch names for `uname -m` spellings. */
function normalizeArch(arch: string): string {
  const value = arch.trim().toLowerCase();
  const aliases: Record<string, string> = { x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64', armv7l: 'arm', armv6l: 'arm', i386: 'ia32', i686: 'ia32', ppc64le: 'ppc64', s390x: 's390x' };
  return aliases[value] ?? value;
}

/** Node's process.platform names for `uname -s` spellings. */
function normalizePlatform(platform: string): string {
  const value = platform.trim().toLowerCase();
  return value === 'sunos' ? 'sunos' : value.startsWith('mingw') || value.startsWith('msys') || value.startsWith('cygwin') ? 'win32' : value;
}
