/** The production dependency closure that goes into the CLI bundle, resolved the way Node does. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';

/** A package of the production dependency closure: its folder here and in the bundle. */
export interface BundledPackage {
  name: string;
  version: string;
  dir: string;
  /** POSIX folder inside the bundle, e.g. node_modules/@aws-sdk/client-s3 */
  bundleDir: string;
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
      // Type declarations some packages list as dependencies (protobufjs: @types/node) never run.
      if (dependency.name.startsWith('@types/')) continue;
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

export async function readPackageJson(dir: string): Promise<PackageManifest & { version: string }> {
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

export async function isFile(p: string): Promise<boolean> {
  return fs.stat(p).then((s) => s.isFile(), () => false);
}

export function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}
