/** Seeded data folders: the first deploy fills shared/<path> from what the release ships there, later ones never touch it. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { DataConfig } from '../../src/config/types.js';
import { linkSharedPaths } from '../../src/host/shared-links.js';
import { parseManifest, releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A release folder as installed: read-only files (they are the host's shared objects), a link inside the seeded folder. */
function releaseWith(root: string, name: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  const dir = path.join(root, 'releases', name);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text, { mode: 0o444 });
  }
  for (const [rel, target] of Object.entries(links)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.symlinkSync(target, path.join(dir, rel));
  }
  return dir;
}

const data: DataConfig = { databases: [], folders: ['uploads', 'content'], seed: ['content'] };

test('first deploy: shared/content is a writable copy of the release\'s content/, links copied as links; the release links to it', async (t) => {
  const root = tempDir(t);
  const shared = path.join(root, 'shared');
  const outside = path.join(root, 'outside.txt');
  fs.writeFileSync(outside, 'not to be copied');
  const release = releaseWith(root, 'r1', { 'server.js': 'x', 'content/themes/casper/style.css': 'body{}', 'content/settings/routes.yaml': 'routes: {}' }, {
    'content/themes/active': 'casper',
    'content/outside': outside,
  });
  await linkSharedPaths({ releaseDir: release, sharedDir: shared, data });

  assert.equal(fs.readlinkSync(path.join(release, 'content')), path.join(shared, 'content'));
  assert.equal(fs.readlinkSync(path.join(release, 'uploads')), path.join(shared, 'uploads'));
  assert.equal(fs.readFileSync(path.join(shared, 'content/themes/casper/style.css'), 'utf8'), 'body{}');
  assert.equal(fs.readFileSync(path.join(release, 'content/settings/routes.yaml'), 'utf8'), 'routes: {}', 'the app reads it at the path it shipped it');
  const style = fs.statSync(path.join(shared, 'content/themes/casper/style.css'));
  assert.equal(style.mode & 0o200, 0o200, 'the app may change its copy');
  assert.equal(fs.readlinkSync(path.join(shared, 'content/themes/active')), 'casper', 'a link stays a link, its target as written');
  assert.ok(fs.lstatSync(path.join(shared, 'content/outside')).isSymbolicLink(), 'never followed');
  assert.equal(fs.readlinkSync(path.join(shared, 'content/outside')), outside);
  assert.deepEqual(fs.readdirSync(shared).sort(), ['content', 'uploads'], 'no temporary folder left');

  // The app writes into its folder; the release's files are untouched (they were copied, not linked).
  fs.writeFileSync(path.join(release, 'content/themes/casper/style.css'), 'body{color:red}');
  assert.equal(fs.readFileSync(path.join(shared, 'content/themes/casper/style.css'), 'utf8'), 'body{color:red}');
});

test('later deploys never overwrite or add to an existing shared folder', async (t) => {
  const root = tempDir(t);
  const shared = path.join(root, 'shared');
  await linkSharedPaths({ releaseDir: releaseWith(root, 'r1', { 'content/a.css': 'v1' }), sharedDir: shared, data });
  fs.writeFileSync(path.join(shared, 'content/a.css'), 'edited by the app');
  fs.writeFileSync(path.join(shared, 'content/upload.png'), 'user data');

  const r2 = releaseWith(root, 'r2', { 'content/a.css': 'v2', 'content/b.css': 'new in v2' });
  await linkSharedPaths({ releaseDir: r2, sharedDir: shared, data });
  assert.equal(fs.readlinkSync(path.join(r2, 'content')), path.join(shared, 'content'));
  assert.deepEqual(fs.readdirSync(path.join(shared, 'content')).sort(), ['a.css', 'upload.png']);
  assert.equal(fs.readFileSync(path.join(shared, 'content/a.css'), 'utf8'), 'edited by the app');
});

test('a shared folder that exists before the first deploy (made by hand, restored from a backup) is kept as it is', async (t) => {
  const root = tempDir(t);
  const shared = path.join(root, 'shared');
  fs.mkdirSync(path.join(shared, 'content'), { recursive: true });
  fs.writeFileSync(path.join(shared, 'content/mine.txt'), 'restored');
  const release = releaseWith(root, 'r1', { 'content/a.css': 'v1' });
  await linkSharedPaths({ releaseDir: release, sharedDir: shared, data });
  assert.deepEqual(fs.readdirSync(path.join(shared, 'content')), ['mine.txt']);
});

test('a copy left half done by a crash is thrown away and made again', async (t) => {
  const root = tempDir(t);
  const shared = path.join(root, 'shared');
  fs.mkdirSync(path.join(shared, '.content.seeding'), { recursive: true });
  fs.writeFileSync(path.join(shared, '.content.seeding/partial.css'), 'half');
  const release = releaseWith(root, 'r1', { 'content/a.css': 'v1' });
  await linkSharedPaths({ releaseDir: release, sharedDir: shared, data });
  assert.deepEqual(fs.readdirSync(path.join(shared, 'content')), ['a.css']);
  assert.equal(fs.existsSync(path.join(shared, '.content.seeding')), false);
});

test('a seeded folder the release does not ship starts empty; files in a folder that is not seeded are still refused', async (t) => {
  const root = tempDir(t);
  const shared = path.join(root, 'shared');
  const empty = releaseWith(root, 'r1', { 'server.js': 'x' });
  await linkSharedPaths({ releaseDir: empty, sharedDir: shared, data });
  assert.deepEqual(fs.readdirSync(path.join(shared, 'content')), []);

  const shadowing = releaseWith(root, 'r2', { 'uploads/default.png': 'x' });
  await expectRejects(linkSharedPaths({ releaseDir: shadowing, sharedDir: shared, data }), 'RELEASE_SHADOWS_SHARED', { hint: /\{ path: uploads, seed: true \}/ });
});

test('manifests: seed is read when present, and a release without it keeps its manifest and id', () => {
  const manifest: ReleaseManifest = {
    schema: 1,
    app: 'blog',
    version: 'v1',
    commit: 'a'.repeat(40),
    message: 'm',
    date: '2025-01-01T00:00:00.000Z',
    dirty: false,
    notes: '',
    requiredConfig: [],
    migrates: false,
    runtime: {
      services: [{ name: 'web', command: 'node index.js', portEnv: 'PORT', env: {}, health: { path: '/', intervalMs: 1, timeoutMs: 1, successes: 1, deadlineMs: 1 } }],
      data: { databases: [], folders: ['content'] },
      migrate: null,
      hooks: [],
      config: [],
    },
    files: [{ path: 'content/a.css', sha256: 'b'.repeat(64), mode: 0o644, size: 1 }],
  };
  const plain = JSON.stringify(manifest);
  assert.equal(parseManifest(plain, releaseIdOf(manifest)).runtime.data.seed, undefined);
  assert.equal(plain.includes('seed'), false);
  const seeded = { ...manifest, runtime: { ...manifest.runtime, data: { ...manifest.runtime.data, seed: ['content'] } } };
  assert.deepEqual(parseManifest(JSON.stringify(seeded)).runtime.data.seed, ['content']);
  assert.notEqual(releaseIdOf(seeded), releaseIdOf(manifest), 'seeding is part of what the release is');
  const climbing = { ...manifest, runtime: { ...manifest.runtime, data: { ...manifest.runtime.data, seed: ['../etc'] } } };
  expectThrows(() => parseManifest(JSON.stringify(climbing)), 'RELEASE_MANIFEST_INVALID');
});
