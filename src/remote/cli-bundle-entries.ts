/** The files of the CLI bundle: package.json, bin/, dist/src/, dist/bundle/ and the production node_modules, minus what never runs. */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { isFile, productionPackages, toPosix } from './cli-bundle-packages.js';

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
  // The bundled CLI bin/slipway.js prefers (scripts/bundle-cli.js); without it the host runs dist/src.
  const bundled = path.join(root, 'dist', 'bundle');
  if (await isDirectory(bundled)) await walkFiles(bundled, 'dist/bundle', () => true, async (source, bundlePath) => add(source, bundlePath));
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

async function isDirectory(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isDirectory(), () => false);
}
