/**
 * Real-size paths, at a size a test can afford: a tree large enough that hashing and
 * packing go to the file workers, and a release with more folders than one mkdir batch,
 * installed fresh and then again from the host's objects (folders and links pipelined).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { installRelease, readStatSnapshot } from '../../src/host/install-release.js';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { openLedger } from '../../src/host/ledger.js';
import { treeContentSource } from '../../src/release/content-source.js';
import { releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import { selectReleaseFiles } from '../../src/release/select-files.js';
import { verifyTree } from '../../src/release/verify-tree.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { putObjects } from '../../src/store/put-objects.js';
import { readObjects } from '../../src/store/read-objects.js';
import { putRelease, releaseObjects } from '../../src/store/releases.js';
import { expectRejects } from '../helpers/expect-error.js';
import { manifestOf, sha256Of } from '../helpers/manifests.js';
import { tempDir } from '../helpers/temp-dir.js';

/** 695 files in over 2,000 folders: text, an empty file, an executable, 2 MiB random and 2 MiB of text. */
function writeTree(root: string): Map<string, Buffer> {
  const contents = new Map<string, Buffer>();
  const put = (rel: string, content: Buffer, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content, { mode });
    contents.set(rel, content);
  };
  for (let i = 0; i < 690; i++) put(`node_modules/p${i}/lib/deep/index.js`, Buffer.from(`module.exports = ${i};\n`.repeat(1 + (i % 40))));
  put('node_modules/p1/copy.js', contents.get('node_modules/p1/lib/deep/index.js')!); // the same content twice
  put('empty.txt', Buffer.alloc(0));
  put('bin/run', Buffer.from('#!/bin/sh\necho run\n'), 0o755);
  put('large/random.bin', randomBytes(2 * 1024 * 1024));
  put('large/text.txt', Buffer.from('a line of text that compresses well\n'.repeat(60_000)));
  return contents;
}

test('hashing and packing on the file workers: the same digests and modes, every content read back intact, a changed file refused', async (t) => {
  const dir = tempDir(t, 'slipway-file-workers-');
  const tree = path.join(dir, 'tree');
  const contents = writeTree(tree);
  const { files, links } = await selectReleaseFiles({ treeDir: tree, include: [], exclude: [] });
  assert.equal(files.length, contents.size);
  assert.deepEqual(links, []);
  assert.deepEqual(
    files.map((f) => f.path),
    [...contents.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  for (const file of files) {
    const content = contents.get(file.path)!;
    assert.equal(file.sha256, sha256Of(content), file.path);
    assert.equal(file.size, content.length, file.path);
    assert.equal(file.mode, file.path === 'bin/run' ? 0o755 : 0o644, file.path);
  }

  const manifest = { files, links } as unknown as ReleaseManifest;
  const store = createLocalStore(path.join(dir, 'store'));
  const wanted = releaseObjects(manifest);
  const put = await putObjects(store, 'app', wanted, treeContentSource(tree, manifest));
  assert.equal(put.addedObjects, wanted.size);
  assert.equal(wanted.size, contents.size - 1, 'the duplicate content is stored once');
  // Compressed where that pays: the text shrinks, the random bytes are kept as they are.
  assert.ok(put.addedBytes < 2 * 1024 * 1024 + 1024 * 1024, `stored ${put.addedBytes} bytes`);
  const index = await loadObjectIndex(store, 'app');
  const bySha = new Map(files.map((f) => [f.sha256, contents.get(f.path)!]));
  let read = 0;
  await readObjects(store, 'app', [...wanted].map(([sha256, size]) => ({ sha256, size })), index, (digest, content) => {
    assert.ok(content.equals(bySha.get(digest)!), digest);
    read += 1;
  });
  assert.equal(read, wanted.size);
  assert.equal(index.get(sha256Of(contents.get('large/random.bin')!))!.encoding, 0, 'random bytes stored raw');
  assert.equal(index.get(sha256Of(contents.get('large/text.txt')!))!.encoding, 1, 'text stored deflated');

  // A file written to between hashing and packing: nothing is stored.
  const other = createLocalStore(path.join(dir, 'other-store'));
  fs.writeFileSync(path.join(tree, 'node_modules/p400/lib/deep/index.js'), 'changed after hashing\n');
  await expectRejects(putObjects(other, 'app', wanted, treeContentSource(tree, manifest)), 'RELEASE_SOURCE_CHANGED');
  assert.deepEqual(await other.list(''), []);
});

test('a release with more folders than one batch installs fresh, then again from the host objects alone, identical and verified', async (t) => {
  const dir = tempDir(t, 'slipway-file-workers-');
  const tree = path.join(dir, 'tree');
  const contents = writeTree(tree);
  const { files } = await selectReleaseFiles({ treeDir: tree, include: [], exclude: [] });
  const store = createLocalStore(path.join(dir, 'store'));
  const layout = hostLayout(path.join(dir, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  const install = async (version: string, list = files) => {
    const manifest: ReleaseManifest = { ...manifestOf('app', version, {}), files: list };
    const id = releaseIdOf(manifest);
    await putRelease(store, { app: 'app', id, manifestBytes: Buffer.from(JSON.stringify(manifest)), content: treeContentSource(tree, manifest) });
    const result = await installRelease({ layout, ledger, store, app: 'app', id, signatures: { required: false, publicKeysPem: [] } });
    const folder = path.join(layout.releasesDir, id);
    const differences = await verifyTree(folder, manifest, { snapshot: await readStatSnapshot(layout, id) });
    assert.deepEqual(differences, { modified: [], added: [], removed: [] }, version);
    return { result, folder, id };
  };
  const first = await install('v1');
  assert.equal(first.result.fetchedObjects, contents.size - 1);
  // v2: one file changed; every other file is linked from the objects v1 left.
  const changed = 'node_modules/p650/lib/deep/index.js';
  fs.writeFileSync(path.join(tree, changed), 'v2\n');
  const v2files = files.map((f) => (f.path === changed ? { ...f, sha256: sha256Of('v2\n'), size: 3 } : f));
  const second = await install('v2', v2files);
  assert.equal(second.result.fetchedObjects, 1);
  assert.equal(second.result.reusedFiles, files.length - 1);
  assert.equal(fs.readFileSync(path.join(second.folder, changed), 'utf8'), 'v2\n');
  assert.equal(fs.statSync(path.join(second.folder, 'bin/run')).ino, fs.statSync(path.join(first.folder, 'bin/run')).ino, 'shared as one object');
  const snapshot = (await readStatSnapshot(layout, second.id))!;
  assert.equal(snapshot.length, v2files.length);
  v2files.forEach((file, i) => assert.equal(snapshot[i]![0], fs.lstatSync(path.join(second.folder, file.path)).ino, file.path));
});
