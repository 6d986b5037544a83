import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildRelease, type BuiltRelease } from '../../src/release/build.js';
import { unpackRelease } from '../../src/release/unpack.js';
import { verifyTree } from '../../src/release/verify-tree.js';
import { gzipTar, paxEntry, rawTar, type RawEntry } from './tar-fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';
import { makeAppRepo, tempDir } from './repo-fixture.js';

async function goodRelease(t: TestContext): Promise<{ built: BuiltRelease; root: string; contents: Map<string, Buffer> }> {
  const repo = makeAppRepo(t);
  repo.write('data/big.bin', Buffer.alloc(100_000, 7));
  repo.write('data/empty.txt', '');
  repo.commit('big file');
  const built = await buildRelease({ project: repo.project(), outDir: path.join(repo.scratch, 'out'), archive: true });
  const contents = new Map(built.manifest.files.map((f) => [f.path, fs.readFileSync(path.join(repo.dir, f.path))]));
  return { built, root: tempDir(t), contents };
}

/** The release's own files as raw tar entries, in manifest order. */
function fileEntries(built: BuiltRelease, contents: Map<string, Buffer>): RawEntry[] {
  return built.manifest.files.map((f) => ({ name: f.path, body: contents.get(f.path)!, mode: f.mode }));
}

/** Unpacks `archive` and expects RELEASE_ARCHIVE_REJECTED naming `entry`, with nothing left behind. */
async function assertRejected(o: { built: BuiltRelease; root: string; archive: Buffer; entry: string; reason: RegExp; maxTotalBytes?: number; code?: string }): Promise<void> {
  const archivePath = path.join(o.root, `hostile-${Math.random().toString(36).slice(2)}.tar.gz`);
  fs.writeFileSync(archivePath, o.archive);
  const parent = path.join(o.root, 'releases');
  const destDir = path.join(parent, o.built.id);
  const error = await expectRejects(unpackRelease({ archivePath, manifest: o.built.manifest, destDir, maxTotalBytes: o.maxTotalBytes }), o.code ?? 'RELEASE_ARCHIVE_REJECTED', { exitCode: 1, message: o.reason });
  assert.ok(error.message.includes(o.entry), `message names the entry: ${error.message}`);
  assert.equal(fs.existsSync(destDir), false, 'destDir must not exist');
  const left = fs.existsSync(parent) ? fs.readdirSync(parent) : [];
  assert.deepEqual(left, [], `nothing may be left in ${parent}`);
  assert.equal(fs.existsSync(path.join(o.root, 'evil')), false, 'nothing was written outside');
}

test('unpack: a good archive unpacks with manifest modes, and verifyTree finds no difference', async (t) => {
  const { built, root, contents } = await goodRelease(t);
  const destDir = path.join(root, 'releases', built.id);
  await unpackRelease({ archivePath: built.archivePath!, manifest: built.manifest, destDir });
  for (const f of built.manifest.files) {
    const file = path.join(destDir, f.path);
    assert.ok(fs.readFileSync(file).equals(contents.get(f.path)!), f.path);
    assert.equal(fs.statSync(file).mode & 0o777, f.mode, `mode of ${f.path}`);
  }
  assert.deepEqual(fs.readdirSync(path.join(root, 'releases')), [built.id], 'no temp folder is left');
  assert.deepEqual(await verifyTree(destDir, built.manifest), { modified: [], added: [], removed: [] });

  await expectRejects(unpackRelease({ archivePath: built.archivePath!, manifest: built.manifest, destDir }), 'RELEASE_ALREADY_UNPACKED');
});

test('unpack: an archive built by hand with the same files (and folder entries) is accepted', async (t) => {
  const { built, root, contents } = await goodRelease(t);
  const archivePath = path.join(root, 'hand.tar.gz');
  fs.writeFileSync(archivePath, gzipTar([{ name: 'bin/', type: '5', mode: 0o755 }, ...fileEntries(built, contents)]));
  const destDir = path.join(root, 'releases', built.id);
  await unpackRelease({ archivePath, manifest: built.manifest, destDir });
  assert.deepEqual(await verifyTree(destDir, built.manifest), { modified: [], added: [], removed: [] });
});

test('verifyTree: reports modified, added and removed files, and changed modes', async (t) => {
  const { built, root } = await goodRelease(t);
  const destDir = path.join(root, 'releases', built.id);
  await unpackRelease({ archivePath: built.archivePath!, manifest: built.manifest, destDir });
  fs.chmodSync(path.join(destDir, 'server.js'), 0o644 | 0o100 | 0o200);
  fs.appendFileSync(path.join(destDir, 'server.js'), '// hotfix\n');
  fs.writeFileSync(path.join(destDir, 'package.json'), '{"name":"demo","version":"9.9.9"}\n'); // same size is not enough
  fs.chmodSync(path.join(destDir, 'bin/start.sh'), 0o644);
  fs.rmSync(path.join(destDir, 'CHANGELOG.md'));
  fs.writeFileSync(path.join(destDir, 'bin/extra.sh'), 'x');
  fs.mkdirSync(path.join(destDir, 'empty'));
  fs.symlinkSync('/etc/passwd', path.join(destDir, 'link'));
  fs.chmodSync(path.join(destDir, 'slipway.yml'), 0o444); // read-only is not a change: only the exec bit counts
  assert.deepEqual(await verifyTree(destDir, built.manifest), {
    modified: ['bin/start.sh', 'package.json', 'server.js'],
    added: ['bin/extra.sh', 'empty/', 'link'],
    removed: ['CHANGELOG.md'],
  });
});

test('unpack: a changed byte in a file is refused', async (t) => {
  const r = await goodRelease(t);
  const entries = fileEntries(r.built, r.contents).map((e) => (e.name === 'server.js' ? { ...e, body: Buffer.from('console.log("HELLO");\n') } : e));
  await assertRejected({ ...r, archive: gzipTar(entries), entry: 'server.js', reason: /sha256/ });
});

test('unpack: an extra file is refused', async (t) => {
  const r = await goodRelease(t);
  const entries = [...fileEntries(r.built, r.contents), { name: 'zz-extra.js', body: 'evil()' }];
  await assertRejected({ ...r, archive: gzipTar(entries), entry: 'zz-extra.js', reason: /not in the manifest/ });
});

test('unpack: a ../ entry is refused, also when it comes from a pax header', async (t) => {
  const r = await goodRelease(t);
  const files = fileEntries(r.built, r.contents);
  await assertRejected({ ...r, archive: gzipTar([files[0], { name: '../evil', body: 'x' }, ...files.slice(1)]), entry: '../evil', reason: /'\.\.'/ });
  await assertRejected({ ...r, archive: gzipTar([files[0], { name: 'bin/../../../evil', body: 'x' }]), entry: 'bin/../../../evil', reason: /'\.\.'/ });
  await assertRejected({ ...r, archive: gzipTar([paxEntry({ path: '../evil' }), { name: 'innocent.txt', body: 'x' }, ...files]), entry: '../evil', reason: /'\.\.'/ });
});

test('unpack: an absolute path entry is refused', async (t) => {
  const r = await goodRelease(t);
  const evil = path.join(r.root, 'evil');
  await assertRejected({ ...r, archive: gzipTar([{ name: evil, body: 'x' }, ...fileEntries(r.built, r.contents)]), entry: evil, reason: /absolute/ });
});

test('unpack: a symbolic link out of the tree is refused', async (t) => {
  const r = await goodRelease(t);
  const files = fileEntries(r.built, r.contents);
  await assertRejected({ ...r, archive: gzipTar([{ name: 'escape', type: '2', linkname: '../../../etc' }, ...files]), entry: 'escape', reason: /symbolic link/ });
  // …even one named like a manifest file, followed by that file's content
  await assertRejected({ ...r, archive: gzipTar([{ name: 'server.js', type: '2', linkname: '/tmp/evil' }, ...files]), entry: 'server.js', reason: /symbolic link/ });
});

test('unpack: a hard link is refused', async (t) => {
  const r = await goodRelease(t);
  const files = fileEntries(r.built, r.contents);
  await assertRejected({ ...r, archive: gzipTar([...files, { name: 'hard', type: '1', linkname: 'server.js' }]), entry: 'hard', reason: /hard link/ });
});

test('unpack: device and FIFO entries are refused', async (t) => {
  const r = await goodRelease(t);
  const files = fileEntries(r.built, r.contents);
  await assertRejected({ ...r, archive: gzipTar([{ name: 'fifo', type: '6' }, ...files]), entry: 'fifo', reason: /FIFO/ });
  await assertRejected({ ...r, archive: gzipTar([{ name: 'null', type: '3' }, ...files]), entry: 'null', reason: /CharacterDevice/ });
});

test('unpack: a file missing from the archive is refused', async (t) => {
  const r = await goodRelease(t);
  const entries = fileEntries(r.built, r.contents).filter((e) => e.name !== 'package.json');
  await assertRejected({ ...r, archive: gzipTar(entries), entry: 'package.json', reason: /missing/ });
});

test('unpack: a duplicate entry is refused', async (t) => {
  const r = await goodRelease(t);
  const files = fileEntries(r.built, r.contents);
  const again = files.find((e) => e.name === 'server.js')!;
  await assertRejected({ ...r, archive: gzipTar([...files, again]), entry: 'server.js', reason: /duplicate/ });
});

test('unpack: a declared size different from the manifest is refused before writing', async (t) => {
  const r = await goodRelease(t);
  const entries = fileEntries(r.built, r.contents).map((e) => (e.name === 'server.js' ? { ...e, body: Buffer.alloc(5000, 1) } : e));
  await assertRejected({ ...r, archive: gzipTar(entries), entry: 'server.js', reason: /size 5000/ });
});

test('unpack: a truncated or corrupt archive is refused', async (t) => {
  const r = await goodRelease(t);
  const good = fs.readFileSync(r.built.archivePath!!);
  await assertRejected({ ...r, archive: good.subarray(0, Math.floor(good.length / 2)), entry: '', reason: /truncated or corrupt/ });
  // a tar stream cut inside the big file, gzipped properly
  const cut = rawTar(fileEntries(r.built, r.contents), { end: false });
  const bigAt = cut.indexOf(Buffer.alloc(2000, 7));
  const { gzipSync } = await import('node:zlib');
  await assertRejected({ ...r, archive: gzipSync(cut.subarray(0, bigAt + 1000)), entry: 'data/big.bin', reason: /truncated|bytes instead/ });
  // a header with a wrong checksum
  const tar = rawTar(fileEntries(r.built, r.contents));
  tar[0] ^= 0x01;
  await assertRejected({ ...r, archive: gzipSync(tar), entry: '', reason: /truncated or corrupt/ });
  // an empty file, and bytes that are no archive at all
  await assertRejected({ ...r, archive: Buffer.alloc(0), entry: '', reason: /truncated or corrupt/ });
  await assertRejected({ ...r, archive: Buffer.from('this is not a tar archive, just text'.repeat(40)), entry: '', reason: /truncated or corrupt/ });
  // one flipped byte in the compressed stream
  const flipped = Buffer.from(good);
  flipped[Math.floor(flipped.length / 2)] ^= 0xff;
  await assertRejected({ ...r, archive: flipped, entry: '', reason: /./ });
});

test('unpack: a release over maxTotalBytes is refused', async (t) => {
  const r = await goodRelease(t);
  const good = fs.readFileSync(r.built.archivePath!!);
  await assertRejected({ ...r, archive: good, maxTotalBytes: 50_000, entry: 'data/big.bin', reason: /larger than the limit of 50000 bytes/ });
});

test('unpack: more entries than maxFiles are refused', async (t) => {
  const r = await goodRelease(t);
  const archivePath = path.join(r.root, 'ok.tar.gz');
  fs.copyFileSync(r.built.archivePath!!, archivePath);
  const destDir = path.join(r.root, 'releases', r.built.id);
  await assert.rejects(unpackRelease({ archivePath, manifest: r.built.manifest, destDir, maxFiles: 2 }), /more than 2 entries/);
  assert.equal(fs.existsSync(destDir), false);
  assert.deepEqual(fs.readdirSync(path.join(r.root, 'releases')), []);
});
