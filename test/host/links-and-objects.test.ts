/**
 * Links in releases and the host's content objects, with real folders: links are made
 * exactly as the manifest says and never followed; nothing is ever written through a
 * link; objects are shared between releases and collected when no release links to them.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { installRelease, linkPendingObjects, readStatSnapshot, removeInstalledRelease } from '../../src/host/install-release.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { collectHostObjects, objectPath } from '../../src/host/objects.js';
import { parseManifest, releaseIdOf, type ManifestLink, type ReleaseManifest } from '../../src/release/manifest.js';
import { contentsOf, manifestOf, sha256Of } from '../helpers/manifests.js';
import { verifyTree } from '../../src/release/verify-tree.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { putRelease } from '../../src/store/releases.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { tempDir } from '../helpers/cli.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';

const APP = 'linky';
const sha = sha256Of;

interface Scene {
  dir: string;
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  /** puts a release of these files and links into the store and installs it */
  install(version: string, files: Record<string, string>, links?: ManifestLink[]): Promise<{ id: string; manifest: ReleaseManifest; fetchedObjects: number; reusedFiles: number }>;
}

async function scene(t: TestContext): Promise<Scene> {
  const dir = tempDir(t, 'slipway-links-');
  const layout = hostLayout(path.join(dir, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  const store = createLocalStore(path.join(dir, 'store'));
  return {
    dir,
    layout,
    ledger,
    store,
    async install(version, files, links) {
      const manifest = manifestOf(APP, version, files, links);
      const id = releaseIdOf(manifest);
      await putRelease(store, { app: APP, id, manifestBytes: Buffer.from(JSON.stringify(manifest)), content: contentsOf(files) });
      const result = await installRelease({ layout, ledger, store, app: APP, id, signatures: { required: false, publicKeysPem: [] } });
      return { id, manifest, fetchedObjects: result.fetchedObjects, reusedFiles: result.reusedFiles };
    },
  };
}

test('links are recreated with their exact target text: inside, to folders, chains, outside the release', async (t) => {
  const s = await scene(t);
  const outside = path.join(s.dir, 'outside');
  fs.mkdirSync(outside);
  const links: ManifestLink[] = [
    { path: 'node_modules/.bin/tool', target: '../tool/bin/cli.js' },
    { path: 'node_modules/alias', target: 'tool' },
    { path: 'node_modules/chain', target: 'alias' },
    { path: 'python', target: '/usr/bin/python3' },
    { path: 'up', target: outside },
  ];
  const { id, manifest } = await s.install('v1', { 'node_modules/tool/bin/cli.js': 'cli\n', 'app.js': 'app\n' }, links);
  const dir = path.join(s.layout.releasesDir, id);
  for (const link of links) {
    const full = path.join(dir, link.path);
    assert.ok(fs.lstatSync(full).isSymbolicLink(), `${link.path} is not a link`);
    assert.equal(fs.readlinkSync(full), link.target);
  }
  assert.equal(fs.readFileSync(path.join(dir, 'node_modules/.bin/tool'), 'utf8'), 'cli\n', 'the link resolves inside the release');
  assert.equal(fs.readFileSync(path.join(dir, 'node_modules/chain/bin/cli.js'), 'utf8'), 'cli\n');
  assert.deepEqual(fs.readdirSync(outside), [], 'nothing was written where a link points outside');
  assert.deepEqual(await verifyTree(dir, manifest, { snapshot: await readStatSnapshot(s.layout, id) }), { modified: [], added: [], removed: [] });
});

test('a manifest that places an entry under one of its links is refused before anything is written (no write through a link)', async (t) => {
  const s = await scene(t);
  const outside = path.join(s.dir, 'outside');
  fs.mkdirSync(outside);
  await expectRejects(s.install('v1', { 'evil/passwd': 'x\n' }, [{ path: 'evil', target: outside }]), 'RELEASE_MANIFEST_INVALID');
  await expectRejects(s.install('v2', {}, [{ path: 'a', target: outside }, { path: 'a/b', target: '/etc' }]), 'RELEASE_MANIFEST_INVALID');
  assert.deepEqual(fs.readdirSync(outside), []);
  assert.deepEqual(fs.readdirSync(s.layout.releasesDir), []);
  expectThrows(() => parseManifest(JSON.stringify({ links: [{ path: 'x', target: '' }] })), 'RELEASE_MANIFEST_INVALID');
});

test('verify reads link targets, never what is behind them: a retargeted link, a link replaced by a folder or a file, an edited file', async (t) => {
  const s = await scene(t);
  const { id, manifest } = await s.install('v1', { 'lib/a.js': 'a\n', 'lib/b.js': 'b\n' }, [
    { path: 'bin/a', target: '../lib/a.js' },
    { path: 'bin/b', target: '../lib/b.js' },
    { path: 'etc', target: '/etc' },
  ]);
  const dir = path.join(s.layout.releasesDir, id);
  const snapshot = await readStatSnapshot(s.layout, id);
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(path.join(dir, 'bin'), 0o755);
  fs.chmodSync(path.join(dir, 'lib'), 0o755);
  fs.rmSync(path.join(dir, 'bin/a'));
  fs.symlinkSync('../lib/b.js', path.join(dir, 'bin/a'));
  fs.rmSync(path.join(dir, 'bin/b'));
  fs.mkdirSync(path.join(dir, 'bin/b'));
  fs.rmSync(path.join(dir, 'etc'));
  fs.writeFileSync(path.join(dir, 'etc'), 'not a link');
  // An edit that keeps the size: the snapshot sees the new inode/time, so it is re-hashed.
  fs.rmSync(path.join(dir, 'lib/a.js'));
  fs.writeFileSync(path.join(dir, 'lib/a.js'), 'A\n');
  const diff = await verifyTree(dir, manifest, { snapshot });
  assert.deepEqual(diff.modified, ['bin/a', 'bin/b', 'etc', 'lib/a.js']);
});

test('a second release shares unchanged contents: one new object, the rest hard links to the same objects', async (t) => {
  const s = await scene(t);
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++) files[`lib/f${i}.js`] = `module ${i}\n`;
  files['run.sh'] = '#!/bin/sh\n';
  const v1 = await s.install('v1', files, [{ path: 'bin/run', target: '../run.sh' }]);
  assert.equal(v1.fetchedObjects, 51);
  const v2 = await s.install('v2', { ...files, 'lib/f7.js': 'module 7, fixed\n' }, [{ path: 'bin/run', target: '../run.sh' }]);
  assert.equal(v2.fetchedObjects, 1, 'only the changed content is fetched');
  assert.equal(v2.reusedFiles, 50);
  const a = fs.statSync(path.join(s.layout.releasesDir, v1.id, 'lib/f1.js'));
  const b = fs.statSync(path.join(s.layout.releasesDir, v2.id, 'lib/f1.js'));
  assert.equal(a.ino, b.ino, 'an unchanged file is the same inode in both releases');
  assert.equal(fs.statSync(path.join(s.layout.releasesDir, v2.id, 'run.sh')).mode & 0o777, 0o555, 'modes come with the object');
  assert.equal(fs.statSync(path.join(s.layout.releasesDir, v2.id, 'lib/f1.js')).mode & 0o777, 0o444);
});

test('a fresh install leaves its objects for later: linked in by linkPendingObjects, but never a file changed since', async (t) => {
  const s = await scene(t);
  const v1 = await s.install('v1', { 'a.js': 'kept\n', 'b.js': 'edited later\n', 'lib/dup1.js': 'same\n', 'lib/dup2.js': 'same\n' });
  const dir = path.join(s.layout.releasesDir, v1.id);
  const marker = path.join(s.layout.manifestsDir, `${v1.id}.objects-pending`);
  assert.ok(fs.existsSync(marker), 'marked as pending');
  assert.ok(!fs.existsSync(objectPath(s.layout, sha('kept\n'), 0o644)), 'no object yet');
  // Two files with one content are one inode, objects or not.
  assert.equal(fs.statSync(path.join(dir, 'lib/dup1.js')).ino, fs.statSync(path.join(dir, 'lib/dup2.js')).ino);
  // Edited on the host before its objects were linked in (same size, new time).
  fs.chmodSync(dir, 0o755);
  fs.rmSync(path.join(dir, 'b.js'));
  fs.writeFileSync(path.join(dir, 'b.js'), 'EDITED LATER\n');
  assert.equal(await linkPendingObjects(s.layout), 1);
  assert.ok(!fs.existsSync(marker), 'the mark is gone');
  assert.equal(fs.statSync(objectPath(s.layout, sha('kept\n'), 0o644)).ino, fs.statSync(path.join(dir, 'a.js')).ino, 'the file is the object');
  assert.equal(fs.statSync(objectPath(s.layout, sha('same\n'), 0o644)).ino, fs.statSync(path.join(dir, 'lib/dup2.js')).ino);
  assert.ok(!fs.existsSync(objectPath(s.layout, sha('edited later\n'), 0o644)), 'a changed file never becomes the object of its content');
  assert.equal(await linkPendingObjects(s.layout), 0, 'nothing left to do');
  // The next release does not take the edited file: its content is fetched, the rest linked.
  const v2 = await s.install('v2', { 'a.js': 'kept\n', 'b.js': 'edited later\n', 'lib/dup1.js': 'same\n', 'lib/dup2.js': 'same\n' , 'c.js': 'new\n' });
  assert.equal(v2.fetchedObjects, 2);
  assert.equal(fs.readFileSync(path.join(s.layout.releasesDir, v2.id, 'b.js'), 'utf8'), 'edited later\n');
});

test('an install first links in what an earlier install left for later (no health window ran between them)', async (t) => {
  const s = await scene(t);
  const v1 = await s.install('v1', { 'a.js': 'one\n', 'b.js': 'two\n' });
  const v2 = await s.install('v2', { 'a.js': 'one\n', 'b.js': 'two, changed\n' });
  assert.equal(v2.fetchedObjects, 1, 'v1\'s contents were there to link');
  assert.equal(fs.statSync(path.join(s.layout.releasesDir, v1.id, 'a.js')).ino, fs.statSync(path.join(s.layout.releasesDir, v2.id, 'a.js')).ino);
  assert.ok(!fs.existsSync(path.join(s.layout.manifestsDir, `${v1.id}.objects-pending`)));
  assert.ok(fs.existsSync(path.join(s.layout.manifestsDir, `${v2.id}.objects-pending`)));
});

test('a content used with two modes is two objects (a hard link shares its mode)', async (t) => {
  const s = await scene(t);
  const { id } = await s.install('v1', { 'a.sh': 'same\n', 'b.txt': 'same\n' });
  const dir = path.join(s.layout.releasesDir, id);
  assert.equal(fs.statSync(path.join(dir, 'a.sh')).mode & 0o777, 0o555);
  assert.equal(fs.statSync(path.join(dir, 'b.txt')).mode & 0o777, 0o444);
  assert.notEqual(fs.statSync(path.join(dir, 'a.sh')).ino, fs.statSync(path.join(dir, 'b.txt')).ino);
});

test('host objects no release links to are collected; those a kept release links to, and new ones, never', async (t) => {
  const s = await scene(t);
  const v1 = await s.install('v1', { 'a.js': 'only in v1\n', 'b.js': 'shared\n' });
  const v2 = await s.install('v2', { 'a.js': 'only in v2\n', 'b.js': 'shared\n' });
  await linkPendingObjects(s.layout); // as v2's deploy does in its health window
  // Young objects are kept whatever their links (an install in progress writes before it links).
  await removeInstalledRelease(s.layout, s.ledger, v1.id);
  assert.equal((await collectHostObjects(s.layout)).removed, 0);
  const later = Date.now() + 3_600_000;
  const collected = await collectHostObjects(s.layout, { now: later });
  assert.equal(collected.removed, 1);
  assert.ok(!fs.existsSync(objectPath(s.layout, sha('only in v1\n'), 0o644)));
  assert.ok(fs.existsSync(objectPath(s.layout, sha('shared\n'), 0o644)), 'an object v2 links to was removed');
  assert.ok(fs.existsSync(objectPath(s.layout, sha('only in v2\n'), 0o644)));
  assert.equal(fs.readFileSync(path.join(s.layout.releasesDir, v2.id, 'b.js'), 'utf8'), 'shared\n');
});

test('a damaged host object (wrong size) is not reused: it is fetched again', async (t) => {
  const s = await scene(t);
  const v1 = await s.install('v1', { 'a.js': 'hello\n' });
  await removeInstalledRelease(s.layout, s.ledger, v1.id);
  const object = objectPath(s.layout, sha('hello\n'), 0o644);
  fs.chmodSync(object, 0o644);
  fs.writeFileSync(object, 'truncated');
  const again = await s.install('v1', { 'a.js': 'hello\n' });
  assert.equal(again.fetchedObjects, 1);
  assert.equal(fs.readFileSync(path.join(s.layout.releasesDir, again.id, 'a.js'), 'utf8'), 'hello\n');
});

test('a file edited by hand in one release (same size) does not spread to the next release that shares its content', async (t) => {
  const s = await scene(t);
  const v1 = await s.install('v1', { 'a.js': 'hello\n' });
  const inV1 = path.join(s.layout.releasesDir, v1.id, 'a.js');
  fs.chmodSync(inV1, 0o644);
  fs.writeFileSync(inV1, 'HELLO\n'); // the hard link is the object: the edit reaches it
  const v2 = await s.install('v2', { 'a.js': 'hello\n', 'b.js': 'new\n' });
  assert.equal(fs.readFileSync(path.join(s.layout.releasesDir, v2.id, 'a.js'), 'utf8'), 'hello\n', 'the edited content was reused');
  // v2's contents become objects later (the watch step): v1's edited file never became one.
  await linkPendingObjects(s.layout);
  assert.equal(fs.readFileSync(objectPath(s.layout, sha('hello\n'), 0o644), 'utf8'), 'hello\n', 'the object was not made again');
  const diff = await verifyTree(path.join(s.layout.releasesDir, v1.id), v1.manifest, { snapshot: await readStatSnapshot(s.layout, v1.id) });
  assert.deepEqual(diff.modified, ['a.js'], 'verify still reports the edit in v1');
});

test('a manifest claiming more than a host accepts is refused before anything is fetched', async (t) => {
  const s = await scene(t);
  const manifest = manifestOf(APP, 'huge', { 'a.js': 'a\n' });
  manifest.files[0]!.size = 40 * 1024 ** 3;
  const id = releaseIdOf(manifest);
  await s.store.put(`${APP}/releases/${id}/manifest.json`, JSON.stringify(manifest));
  await expectRejects(installRelease({ layout: s.layout, ledger: s.ledger, store: s.store, app: APP, id, signatures: { required: false, publicKeysPem: [] } }), 'RELEASE_TOO_LARGE');
  assert.deepEqual(fs.readdirSync(s.layout.releasesDir), []);
});

test('pruning releases removes the objects only they held, and no other', async (t) => {
  const s = await scene(t);
  const { pruneReleases } = await import('../../src/host/prune.js');
  const v1 = await s.install('v1', { 'a.js': 'only in v1\n', 'b.js': 'shared\n' });
  const v2 = await s.install('v2', { 'a.js': 'only in v2\n', 'b.js': 'shared\n' });
  const v3 = await s.install('v3', { 'a.js': 'only in v3\n', 'b.js': 'shared\n' });
  await linkPendingObjects(s.layout); // as v3's deploy does in its health window
  s.ledger.setCurrent({ currentId: v3.id, previousId: v2.id });
  const removed = await pruneReleases({ layout: s.layout, ledger: s.ledger, keep: 2 });
  assert.deepEqual(removed.map((r) => r.version), ['v1']);
  assert.ok(!fs.existsSync(objectPath(s.layout, sha('only in v1\n'), 0o644)), "v1's own content was kept");
  for (const kept of ['shared\n', 'only in v2\n', 'only in v3\n']) assert.ok(fs.existsSync(objectPath(s.layout, sha(kept), 0o644)), `${kept.trim()} was removed`);
  void v1;
});
