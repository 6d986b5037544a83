/**
 * The CLI bundle `slipway setup` ships: built from this very installation, unpacked with
 * the system's tar into a bare folder and run from there; the dependency walk and the
 * compatibility check on their own.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createCliBundle, installDirOfThisSlipway, type CliBundle } from '../../src/remote/cli-bundle.js';
import { checkBundleCompatible } from '../../src/remote/cli-bundle-compat.js';
import { listBundleEntries } from '../../src/remote/cli-bundle-entries.js';
import { productionPackages } from '../../src/remote/cli-bundle-packages.js';
import { tempDir } from '../helpers/temp-dir.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';

const execFileAsync = promisify(execFile);


/** Runs node with only what a bare host has: no NODE_PATH, no NODE_OPTIONS, no npm variables. */
async function runNode(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: cwd, NO_COLOR: '1', SLIPWAY_HOME: path.join(cwd, '.slipway') };
  return execFileAsync(process.execPath, args, { cwd, env, timeout: 60_000 });
}

async function extract(file: string, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  // The host side unpacks with the system's tar: check that it reads the archive as written.
  await execFileAsync('tar', ['-xzf', file, '-C', dir]);
}

function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value)}\n`);
}

describe('createCliBundle (this installation)', () => {
  test('the bundle runs from a bare folder, holds no devDependency, and the same installation always gives the same sha256', async (t) => {
    const installDir = installDirOfThisSlipway();
    const pkg = JSON.parse(fs.readFileSync(path.join(installDir, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
    const work = tempDir(t);

    const bundle = await createCliBundle({ installDir, cacheDir: path.join(work, 'cache-a') });
    assert.equal(bundle.version, pkg.version);
    assert.equal(bundle.nodeMajor, Number(process.versions.node.split('.')[0]));
    assert.equal(bundle.arch, process.arch);
    assert.equal(bundle.platform, process.platform);
    assert.equal(bundle.size, fs.statSync(bundle.file).size);
    assert.match(bundle.sha256, /^[0-9a-f]{64}$/);
    t.diagnostic(`bundle of slipway ${bundle.version}: ${(bundle.size / 1e6).toFixed(2)} MB`);

    const host = path.join(work, 'host', 'slipway');
    await extract(bundle.file, host);

    // what is in it, and what is not
    assert.ok(fs.existsSync(path.join(host, 'package.json')));
    assert.ok(fs.existsSync(path.join(host, 'bin', 'slipway.js')));
    assert.ok(fs.existsSync(path.join(host, 'dist', 'src', 'cli', 'main.js')));
    assert.ok(!fs.existsSync(path.join(host, 'dist', 'test')), 'dist/test is not shipped');
    assert.ok(!fs.existsSync(path.join(host, 'dist', 'bench')), 'dist/bench is not shipped');
    for (const dev of Object.keys(pkg.devDependencies)) {
      assert.ok(!fs.existsSync(path.join(host, 'node_modules', dev)), `devDependency ${dev} must not be in the bundle`);
    }
    for (const dev of ['typescript', 'playwright-core', 's3rver', 'fast-check', 'pg', '@types']) {
      assert.ok(!fs.existsSync(path.join(host, 'node_modules', dev)), `${dev} must not be in the bundle`);
    }
    assert.ok(fs.existsSync(path.join(host, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')));

    // runs there: version and help
    const version = await runNode([path.join(host, 'bin', 'slipway.js'), '--version'], path.join(work, 'host'));
    assert.equal(version.stdout.trim(), pkg.version);
    const help = await runNode([path.join(host, 'bin', 'slipway.js'), '--help'], path.join(work, 'host'));
    assert.match(help.stdout, /Usage: slipway/);
    assert.match(help.stdout, /\bagent\b/);

    // every command module (and so everything it imports) loads from the bundle with the
    // dependencies it carries, the S3 SDK (imported lazily) too, and the native SQLite addon works
    const modules = fs.readdirSync(path.join(host, 'dist', 'src', 'cli')).filter((name) => name.endsWith('.js')).map((name) => path.join(host, 'dist', 'src', 'cli', name));
    assert.ok(modules.length > 20, `found ${modules.length} command modules`);
    const script = [
      `for (const url of ${JSON.stringify(modules.map((file) => pathToFileURL(file).href))}) await import(url);`,
      `const { createRequire } = await import('node:module');`,
      `const require = createRequire(${JSON.stringify(pathToFileURL(path.join(host, 'package.json')).href)});`,
      `const Database = require('better-sqlite3');`,
      `const db = new Database(':memory:');`,
      `console.log(db.prepare('select 40 + 2 as answer').get().answer);`,
      `const s3 = await import(require.resolve('@aws-sdk/client-s3'));`,
      `console.log(typeof s3.S3Client);`,
    ].join('\n');
    const loaded = await runNode(['--input-type=module', '-e', script], path.join(work, 'host'));
    assert.deepEqual(loaded.stdout.trim().split('\n'), ['42', 'function']);
    // resolved inside the bundle, not from this checkout
    const resolved = await runNode(['-p', `require.resolve('yaml', { paths: [${JSON.stringify(host)}] })`], path.join(work, 'host'));
    assert.ok(resolved.stdout.trim().startsWith(host), resolved.stdout);

    // Deterministic: a copy of the same installation (the unpacked bundle, every mtime
    // different) bundles to the same bytes, twice, in fresh cache folders.
    const again = await createCliBundle({ installDir: host, cacheDir: path.join(work, 'cache-b') });
    assert.equal(again.sha256, bundle.sha256);
    const later = new Date(Date.now() + 3_600_000);
    for (const file of listModules(path.join(host, 'dist', 'src'))) fs.utimesSync(file, later, later);
    const third = await createCliBundle({ installDir: host, cacheDir: path.join(work, 'cache-c') });
    assert.equal(third.sha256, bundle.sha256);
    assert.notEqual(path.basename(third.file), path.basename(again.file), 'changed mtimes make a new cache key');
    assert.deepEqual(fs.readFileSync(third.file), fs.readFileSync(bundle.file));

    // Unchanged inputs reuse the cached bundle instead of writing it again.
    const before = fs.statSync(third.file);
    const reused = await createCliBundle({ installDir: host, cacheDir: path.join(work, 'cache-c') });
    assert.equal(reused.file, third.file);
    assert.equal(reused.sha256, third.sha256);
    const after = fs.statSync(reused.file);
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.deepEqual(fs.readdirSync(path.join(work, 'cache-c')).sort(), [path.basename(third.file), path.basename(third.file).replace(/\.tar\.gz$/, '.json')].sort());
  });

  test('an installation that was never built is refused with a hint', async (t) => {
    const dir = tempDir(t);
    writeJson(path.join(dir, 'package.json'), { name: 'slipway', version: '1.0.0' });
    fs.mkdirSync(path.join(dir, 'bin'));
    await expectRejects(createCliBundle({ installDir: dir, cacheDir: path.join(dir, 'cache') }), 'BUNDLE_NOT_BUILT', { hint: /npm run build/ });
  });
});

function listModules(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

describe('productionPackages and listBundleEntries (a made-up installation)', () => {
  /**
   * project/node_modules/slipway is the installation, as when it is a dependency of another
   * project: `hoisted` was placed by npm in project/node_modules, above it.
   */
  function makeInstallation(root: string): string {
    const install = path.join(root, 'project', 'node_modules', 'slipway');
    const nm = path.join(install, 'node_modules');
    writeJson(path.join(install, 'package.json'), {
      name: 'slipway',
      version: '9.9.9',
      dependencies: { alpha: '^1', native: '^1', hoisted: '^1' },
      optionalDependencies: { 'not-installed': '^1' },
      devDependencies: { devonly: '^1' },
    });
    fs.mkdirSync(path.join(install, 'bin'));
    fs.writeFileSync(path.join(install, 'bin', 'slipway.js'), '');
    fs.mkdirSync(path.join(install, 'dist', 'src'), { recursive: true });
    fs.writeFileSync(path.join(install, 'dist', 'src', 'main.js'), '');
    fs.writeFileSync(path.join(install, 'dist', 'src', 'main.js.map'), '');
    fs.mkdirSync(path.join(install, 'dist', 'test'), { recursive: true });
    fs.writeFileSync(path.join(install, 'dist', 'test', 'main.test.js'), '');
    // alpha needs beta@2, nested under it; the top-level beta@1 is nobody's production dependency
    writeJson(path.join(nm, 'alpha', 'package.json'), { name: 'alpha', version: '1.0.0', dependencies: { beta: '^2' }, peerDependencies: { peer: '*', typescript: '*' }, peerDependenciesMeta: { typescript: { optional: true } } });
    fs.writeFileSync(path.join(nm, 'alpha', 'index.js'), '');
    fs.writeFileSync(path.join(nm, 'alpha', 'index.d.ts'), '');
    fs.writeFileSync(path.join(nm, 'alpha', 'index.js.map'), '');
    writeJson(path.join(nm, 'alpha', 'node_modules', 'beta', 'package.json'), { name: 'beta', version: '2.0.0' });
    writeJson(path.join(nm, 'beta', 'package.json'), { name: 'beta', version: '1.0.0' });
    writeJson(path.join(nm, 'peer', 'package.json'), { name: 'peer', version: '1.0.0' });
    writeJson(path.join(nm, 'typescript', 'package.json'), { name: 'typescript', version: '5.0.0' });
    writeJson(path.join(nm, 'devonly', 'package.json'), { name: 'devonly', version: '1.0.0', dependencies: { 'dev-helper': '*' } });
    writeJson(path.join(nm, 'dev-helper', 'package.json'), { name: 'dev-helper', version: '1.0.0' });
    writeJson(path.join(nm, '.package-lock.json'), {});
    fs.mkdirSync(path.join(nm, '.bin'));
    // a native addon: only the compiled .node is needed at run time
    const native = path.join(nm, 'native');
    writeJson(path.join(native, 'package.json'), { name: 'native', version: '1.0.0', dependencies: { hoisted: '^1' } });
    fs.writeFileSync(path.join(native, 'binding.gyp'), '{}');
    fs.mkdirSync(path.join(native, 'build', 'Release', 'obj.target'), { recursive: true });
    fs.writeFileSync(path.join(native, 'build', 'Release', 'addon.node'), 'elf');
    fs.writeFileSync(path.join(native, 'build', 'Release', 'obj.target', 'addon.node'), 'elf');
    fs.writeFileSync(path.join(native, 'build', 'Makefile'), '');
    fs.mkdirSync(path.join(native, 'src'));
    fs.writeFileSync(path.join(native, 'src', 'addon.cpp'), '');
    fs.mkdirSync(path.join(native, 'lib'));
    fs.writeFileSync(path.join(native, 'lib', 'index.js'), '');
    // hoisted above the installation
    writeJson(path.join(root, 'project', 'node_modules', 'hoisted', 'package.json'), { name: 'hoisted', version: '1.0.0' });
    fs.writeFileSync(path.join(root, 'project', 'node_modules', 'hoisted', 'index.js'), '');
    return install;
  }

  test('walks dependencies (nested, hoisted, installed peers) and never devDependencies', async (t) => {
    const install = makeInstallation(tempDir(t));
    const packages = await productionPackages(install);
    assert.deepEqual(
      packages.map((p) => [p.bundleDir, p.version]),
      [
        ['node_modules/alpha', '1.0.0'],
        ['node_modules/alpha/node_modules/beta', '2.0.0'],
        ['node_modules/hoisted', '1.0.0'],
        ['node_modules/native', '1.0.0'],
        ['node_modules/peer', '1.0.0'],
      ],
    );
    assert.equal(packages.find((p) => p.name === 'hoisted')!.dir, path.resolve(install, '..', 'hoisted'));

    const entries = (await listBundleEntries(install)).map((entry) => entry.path);
    assert.deepEqual(entries, [
      'bin/slipway.js',
      'dist/src/main.js',
      'node_modules/alpha/index.js',
      'node_modules/alpha/node_modules/beta/package.json',
      'node_modules/alpha/package.json',
      'node_modules/hoisted/index.js',
      'node_modules/hoisted/package.json',
      'node_modules/native/build/Release/addon.node',
      'node_modules/native/lib/index.js',
      'node_modules/native/package.json',
      'node_modules/peer/package.json',
      'package.json',
    ]);
  });

  test('a bundle of it unpacks to exactly those files, with the hoisted package placed inside', async (t) => {
    const root = tempDir(t);
    const install = makeInstallation(root);
    const bundle = await createCliBundle({ installDir: install, cacheDir: path.join(root, 'cache') });
    assert.equal(bundle.version, '9.9.9');
    const listed = await execFileAsync('tar', ['-tzf', bundle.file]);
    assert.deepEqual(listed.stdout.trim().split('\n'), (await listBundleEntries(install)).map((entry) => entry.path));
    const out = path.join(root, 'out');
    await extract(bundle.file, out);
    assert.equal(fs.readFileSync(path.join(out, 'node_modules', 'native', 'build', 'Release', 'addon.node'), 'utf8'), 'elf');
    assert.ok(fs.existsSync(path.join(out, 'node_modules', 'hoisted', 'index.js')));
    // fixed entry times
    assert.equal(fs.statSync(path.join(out, 'package.json')).mtime.toISOString(), '2000-01-01T00:00:00.000Z');
  });

  test('a missing required dependency is refused; a missing optional one is skipped', async (t) => {
    const install = makeInstallation(tempDir(t));
    fs.rmSync(path.join(install, 'node_modules', 'alpha', 'node_modules', 'beta'), { recursive: true });
    fs.rmSync(path.join(install, 'node_modules', 'beta'), { recursive: true });
    const error = await expectRejects(productionPackages(install), 'BUNDLE_DEPENDENCY_MISSING', { message: /beta/, hint: /npm install/ });
    assert.match(error.message, /alpha/);
  });
});

describe('checkBundleCompatible', () => {
  const bundle: CliBundle = { file: '/x.tar.gz', sha256: 'a'.repeat(64), size: 1, version: '1.2.3', nodeMajor: 20, arch: 'x64', platform: 'linux' };

  test('a host with the same Node major, platform and architecture passes, in Node or uname spelling', () => {
    checkBundleCompatible(bundle, { nodeVersion: 'v20.11.1', arch: 'x64', platform: 'linux' });
    checkBundleCompatible(bundle, { nodeVersion: '20.0.0\n', arch: 'x86_64', platform: 'Linux' });
    checkBundleCompatible(bundle, { nodeVersion: 'v20.20.2', arch: 'amd64', platform: 'linux' });
    checkBundleCompatible({ ...bundle, arch: 'arm64' }, { nodeVersion: 'v20.1.0', arch: 'aarch64', platform: 'Linux' });
  });

  const incompatible = (host: Parameters<typeof checkBundleCompatible>[1], check: (error: { message: string; hint?: string }) => boolean) =>
    assert.ok(check(expectThrows(() => checkBundleCompatible(bundle, host), 'BUNDLE_INCOMPATIBLE')));

  test('another Node major, no Node, another architecture or platform is refused, naming both sides', () => {
    incompatible({ nodeVersion: 'v18.19.0', arch: 'x64', platform: 'linux' }, (e) => /Node 20 on linux\/x64/.test(e.message) && /Node 18\.19\.0 on linux\/x64/.test(e.message) && /install Node 20 on the host/.test(e.hint ?? ''));
    incompatible({ nodeVersion: 'v22.3.0', arch: 'x64', platform: 'linux' }, (e) => /Node 22\.3\.0/.test(e.message) && /install Node 20 on the host/.test(e.hint ?? ''));
    incompatible({ nodeVersion: null, arch: 'x86_64', platform: 'Linux' }, (e) => /no Node on linux\/x64/.test(e.message) && /install Node 20 on the host/.test(e.hint ?? ''));
    incompatible({ nodeVersion: 'v20.1.0', arch: 'aarch64', platform: 'Linux' }, (e) => /linux\/arm64/.test(e.message) && /linux\/x64/.test(e.message));
    incompatible({ nodeVersion: 'v20.1.0', arch: 'arm64', platform: 'Darwin' }, (e) => /darwin\/arm64/.test(e.message));
    incompatible({ nodeVersion: 'garbage', arch: 'x64', platform: 'linux' }, (e) => /install Node 20/.test(e.hint ?? ''));
  });
});
