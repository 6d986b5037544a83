/**
 * Hostile release archives against unpackRelease, the boundary every host operation
 * trusts. Each case: a SlipwayError with the expected code and reason, and nothing on
 * disk changed — the destination does not exist, no `.tmp-` sibling is left, no file
 * appeared anywhere under the temp root or at the escape targets outside it. A few
 * hostile-looking archives are legitimately accepted (trailing data, global pax
 * headers…): those must produce exactly the manifest's tree and nothing else.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { SlipwayError } from '../../src/errors.js';
import { shortId, releaseIdOf } from '../../src/release/manifest.js';
import { unpackRelease } from '../../src/release/unpack.js';
import { verifyTree } from '../../src/release/verify-tree.js';
import { paxEntry, rawTar, type RawEntry } from '../release/tar-fixtures.js';
import {
  END_OF_ARCHIVE,
  assertSlipwayError,
  expectRejects,
  escapeName,
  fcOptions,
  fileEntries,
  gnuLongEntry,
  headerWithHugeSize,
  headerWithPrefix,
  memoryRelease,
  runWithDeadline,
  sampleRelease,
  tempRoot,
  treeSnapshot,
  withBody,
  withinDeadline,
  type MemoryRelease,
} from './harness.js';

interface Scene {
  root: string;
  /** a name no file may ever get: escaping entries aim at it */
  escape: string;
  release: MemoryRelease;
  files: RawEntry[];
}

interface ArchiveCase {
  name: string;
  release?: () => MemoryRelease;
  /** the archive's bytes (plain tar unless `gzip` is false… gzipped by default) */
  archive(scene: Scene): Buffer;
  gzip?: boolean;
  code?: string;
  /** what the error message must say; omitted for cases that must be accepted */
  reason?: RegExp;
  accept?: true;
  maxTotalBytes?: number;
  maxFiles?: number;
}

const UNPACK_DEADLINE_MS = 20_000;

function replaceFile(files: RawEntry[], name: string, replacement: RawEntry | RawEntry[]): RawEntry[] {
  return files.flatMap((e) => (e.name === name ? replacement : [e]));
}

function without(files: RawEntry[], name: string): RawEntry[] {
  return files.filter((e) => e.name !== name);
}

const blobOf = (scene: Scene) => scene.release.contents.get('data/blob.bin')!;

const CASES: ArchiveCase[] = [
  // --- paths that climb out, in every spelling a tar header allows
  { name: 'a ../ entry', archive: (s) => rawTar([...s.files, { name: `../${s.escape}`, body: 'x' }]), reason: /'\.\.' segment/ },
  { name: 'a ../ reached through a folder (bin/../../../x)', archive: (s) => rawTar([{ name: `bin/../../../${s.escape}`, body: 'x' }, ...s.files]), reason: /'\.\.' segment/ },
  { name: 'a pax path record overriding an innocent header name with ../', archive: (s) => rawTar([paxEntry({ path: `../../${s.escape}` }), ...s.files]), reason: /'\.\.' segment/ },
  { name: 'an absolute path in the header', archive: (s) => rawTar([{ name: path.join(s.root, s.escape), body: 'x' }, ...s.files]), reason: /absolute path/ },
  { name: 'an absolute path in a pax header', archive: (s) => rawTar([paxEntry({ path: path.join(os.tmpdir(), s.escape) }), ...s.files]), reason: /absolute path/ },
  { name: 'a ustar prefix field of ../..', archive: (s) => Buffer.concat([withBody(headerWithPrefix({ prefix: '../..', name: s.escape, size: 1 }), 'x'), rawTar(s.files)]), reason: /'\.\.' segment/ },
  { name: 'an absolute ustar prefix field', archive: (s) => Buffer.concat([withBody(headerWithPrefix({ prefix: s.root, name: s.escape, size: 1 }), 'x'), rawTar(s.files)]), reason: /absolute path/ },
  { name: 'a GNU long name (L) that climbs out', archive: (s) => rawTar([gnuLongEntry('L', `${'../'.repeat(3)}${'a'.repeat(120)}/${s.escape}`), { name: 'placeholder', body: 'x' }, ...s.files]), reason: /'\.\.' segment/ },
  { name: 'an old GNU long path (N) entry', archive: (s) => rawTar([{ name: 'x', type: 'N', body: `../${s.escape}` }, ...s.files]), reason: /'\.\.' segment|unsupported entry type/ },
  { name: 'a GNU long name that is safe but not in the manifest', archive: (s) => rawTar([...s.files, gnuLongEntry('L', `deep/${'b'.repeat(300)}.js`), { name: 'placeholder', body: 'x' }]), reason: /not in the manifest/ },
  { name: 'a leading ./ segment', archive: (s) => rawTar(replaceFile(s.files, 'server.js', { ...s.files.find((e) => e.name === 'server.js')!, name: './server.js' })), reason: /'\.' segment/ },
  { name: 'an empty segment (bin//start.sh)', archive: (s) => rawTar(replaceFile(s.files, 'bin/start.sh', { ...s.files[0], name: 'bin//start.sh' })), reason: /empty segment/ },
  { name: 'backslash traversal (..\\..\\x)', archive: (s) => rawTar([{ name: `..\\..\\${s.escape}`, body: 'x' }, ...s.files]), reason: /backslash/ },
  { name: 'a drive letter (C:/x)', archive: (s) => rawTar([{ name: `C:/${s.escape}`, body: 'x' }, ...s.files]), reason: /drive letter/ },
  { name: 'a NUL byte in a pax path (cut there by the parser, then the sizes disagree)', archive: (s) => rawTar([paxEntry({ path: `server.js\0../../${s.escape}` }), ...s.files]), reason: /size \d+ differs|NUL/ },
  { name: 'a pax path longer than 4096 characters', archive: (s) => rawTar([paxEntry({ path: `${'a/'.repeat(2100)}b` }), ...s.files]), reason: /longer than 4096/ },
  { name: 'a zero-width space lookalike of a manifest name', archive: (s) => rawTar([...without(s.files, 'server.js'), { name: 'server\u200b.js', body: 'console.log("hello");\n' }]), reason: /not in the manifest/ },
  {
    name: 'the NFD spelling of an NFC manifest name',
    release: () => memoryRelease({ 'caf\u00e9.txt': 'x' }),
    archive: () => rawTar([{ name: 'cafe\u0301.txt', body: 'x' }]),
    reason: /not in the manifest/,
  },
  { name: 'a file entry whose name ends in / (read as a folder)', archive: (s) => rawTar([{ name: 'server.js/', type: '0', body: 'xx' }, ...s.files]), reason: /folder not in the manifest/ },
  {
    name: 'a manifest name with a 300-byte segment (the file system refuses it)',
    release: () => memoryRelease({ [`${'n'.repeat(300)}.txt`]: 'x' }),
    archive: () => rawTar([paxEntry({ path: `${'n'.repeat(300)}.txt` }), { name: 'long', body: 'x' }]),
    reason: /could not be written/,
  },

  // --- links, devices and other entry types
  { name: 'a symbolic link out of the tree', archive: (s) => rawTar([{ name: 'escape', type: '2', linkname: '../../..' }, ...s.files]), reason: /symbolic link/ },
  { name: 'a symbolic link named like a manifest file, followed by the file', archive: (s) => rawTar([{ name: 'server.js', type: '2', linkname: path.join(s.root, s.escape) }, ...s.files]), reason: /symbolic link/ },
  { name: 'a symbolic link whose target comes from a GNU long link (K)', archive: (s) => rawTar([gnuLongEntry('K', `/${'a'.repeat(200)}`), { name: 'lnk', type: '2', linkname: 'x' }, ...s.files]), reason: /symbolic link/ },
  { name: 'a hard link to /etc/passwd', archive: (s) => rawTar([{ name: 'passwd', type: '1', linkname: '/etc/passwd' }, ...s.files]), reason: /hard link/ },
  { name: 'a hard link named like a manifest file, to another one', archive: (s) => rawTar(replaceFile(s.files, 'server.js', { name: 'server.js', type: '1', linkname: 'bin/start.sh' })), reason: /hard link/ },
  { name: 'a character device', archive: (s) => rawTar([{ name: 'null', type: '3' }, ...s.files]), reason: /CharacterDevice/ },
  { name: 'a block device', archive: (s) => rawTar([{ name: 'sda', type: '4' }, ...s.files]), reason: /BlockDevice/ },
  { name: 'a FIFO', archive: (s) => rawTar([{ name: 'fifo', type: '6' }, ...s.files]), reason: /FIFO/ },
  { name: 'a GNU sparse file (S) named like a manifest file', archive: (s) => rawTar(replaceFile(s.files, 'data/blob.bin', { name: 'data/blob.bin', type: 'S', body: blobOf(s) })), reason: /SparseFile/ },
  {
    name: 'a pax GNU sparse 1.0 file (real size 1 GB) in a GNUSparseFile.0 folder',
    archive: (s) => rawTar([paxEntry({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'data/blob.bin', 'GNU.sparse.realsize': '1000000000' }), { name: 'GNUSparseFile.0/blob.bin', body: '1\n0\n3000\n' }, ...s.files]),
    reason: /not in the manifest/,
  },
  {
    name: 'pax GNU sparse 0.1 records on a manifest file (the sparse map is not expanded)',
    archive: (s) =>
      rawTar(
        replaceFile(s.files, 'data/blob.bin', [
          paxEntry({ 'GNU.sparse.size': '1000000000', 'GNU.sparse.numblocks': '1', 'GNU.sparse.offset': '999997000', 'GNU.sparse.numbytes': '3000', 'GNU.sparse.map': '999997000,3000' }),
          { name: 'data/blob.bin', body: Buffer.concat([Buffer.from('1\n999997000\n3000\n'.padEnd(512, '\0')), blobOf(s)]) },
        ]),
      ),
    reason: /size 3512 differs/,
  },
  { name: 'a GNU dump folder (D)', archive: (s) => rawTar([{ name: 'bin', type: 'D' }, ...s.files]), reason: /GNUDumpDir/ },
  { name: 'a tape volume header (V)', archive: (s) => rawTar([{ name: 'vol', type: 'V' }, ...s.files]), reason: /TapeVolumeHeader/ },
  { name: 'a continuation file (M) named like a manifest file', archive: (s) => rawTar([{ name: 'server.js', type: 'M', body: 'x' }, ...s.files]), reason: /ContinuationFile/ },
  { name: 'a Solaris ACL (A)', archive: (s) => rawTar([{ name: 'acl', type: 'A', body: 'x' }, ...s.files]), reason: /SolarisACL/ },
  { name: 'an unknown entry type (Z)', archive: (s) => rawTar([{ name: 'zz', type: 'Z', body: 'x' }, ...s.files]), reason: /unsupported entry type/ },

  // --- sizes, counts and bombs
  { name: 'a declared size of 2^40 bytes (base-256) with no body', archive: () => Buffer.concat([headerWithHugeSize({ name: 'data/blob.bin', size: 2n ** 40n }), END_OF_ARCHIVE]), reason: /size 1099511627776 differs/ },
  { name: 'a pax size record of 10^15 bytes', archive: (s) => rawTar([paxEntry({ size: '1000000000000000' }), ...s.files]), reason: /size 1000000000000000 differs/ },
  {
    name: 'a file over maxTotalBytes: 8 MiB of zeros that compress to a few KB',
    release: () => memoryRelease({ 'zeros.bin': Buffer.alloc(8 * 1024 ** 2) }),
    archive: (s) => rawTar(s.files),
    maxTotalBytes: 1024 ** 2,
    reason: /larger than the limit of 1048576 bytes/,
  },
  { name: 'more entries than maxFiles', archive: (s) => rawTar([{ name: 'bin/', type: '5' }, ...s.files]), maxFiles: 3, reason: /more than 3 entries/ },
  { name: 'more extended headers than files allow', archive: (s) => rawTar([...Array.from({ length: 40 }, () => paxEntry({ comment: 'x' })), ...s.files]), reason: /more than 24 extended headers/ },
  { name: 'a pax header over 1 MiB', archive: (s) => rawTar([paxEntry({ comment: 'x'.repeat(1_100_000) }), ...s.files]), reason: /unsupported entry type ExtendedHeader/ },
  { name: 'a GNU long name over 1 MiB', archive: (s) => rawTar([gnuLongEntry('L', 'a'.repeat(1_100_000)), { name: 'placeholder', body: 'x' }, ...s.files]), reason: /unsupported entry type NextFileHasLongPath/ },
  { name: 'a declared size smaller than the manifest says', archive: (s) => rawTar(replaceFile(s.files, 'data/blob.bin', { name: 'data/blob.bin', body: blobOf(s).subarray(0, 1000) })), reason: /size 1000 differs from the manifest's 3000/ },

  // --- structure
  { name: 'a duplicate file entry', archive: (s) => rawTar([...s.files, s.files[1]]), reason: /duplicate entry/ },
  { name: 'a duplicate folder entry', archive: (s) => rawTar([{ name: 'bin/', type: '5' }, { name: 'bin/', type: '5' }, ...s.files]), reason: /duplicate entry/ },
  { name: 'a folder not in the manifest', archive: (s) => rawTar([{ name: 'extra/', type: '5' }, ...s.files]), reason: /folder not in the manifest/ },
  { name: 'a file not in the manifest', archive: (s) => rawTar([...s.files, { name: 'zz-extra.js', body: 'evil()' }]), reason: /not in the manifest/ },
  { name: 'a manifest file missing from the archive', archive: (s) => rawTar(without(s.files, 'server.js')), reason: /"server\.js": listed in the manifest but missing/ },
  { name: 'content changed, same size', archive: (s) => rawTar(replaceFile(s.files, 'server.js', { name: 'server.js', body: 'console.log("HELLO");\n' })), reason: /sha256/ },
  { name: 'a tar stream cut inside a file', archive: (s) => rawTar(s.files, { end: false }).subarray(0, 512 * 4 + 1500), reason: /truncated|bytes instead/ },
  { name: 'a gzip stream cut in half', gzip: false, archive: (s) => { const gz = gzipSync(rawTar(s.files)); return gz.subarray(0, gz.length >> 1); }, reason: /truncated or corrupt/ },
  { name: 'a header with a wrong checksum', archive: (s) => { const tar = rawTar(s.files); tar[3] ^= 0x20; return tar; }, reason: /checksum|truncated or corrupt/ },
  { name: 'an entry with an empty name', archive: (s) => rawTar([{ name: '', body: 'x' }, ...s.files]), reason: /path is required/ },
  { name: 'an empty file', gzip: false, archive: () => Buffer.alloc(0), reason: /truncated or corrupt/ },
  { name: 'random bytes', gzip: false, archive: () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)), reason: /truncated or corrupt/ },
  { name: 'gzip of text that is no tar', gzip: false, archive: () => gzipSync(Buffer.from('hello world '.repeat(100))), reason: /truncated or corrupt/ },
  { name: 'only the end-of-archive blocks', archive: () => END_OF_ARCHIVE, reason: /listed in the manifest but missing|Unrecognized archive format/ },

  // --- hostile-looking but harmless: accepted, and the tree is exactly the manifest's
  { name: 'an escaping entry after the end-of-archive blocks (ignored)', accept: true, archive: (s) => Buffer.concat([rawTar(s.files), rawTar([{ name: `../../${s.escape}`, body: 'x' }])]) },
  { name: 'garbage after the end-of-archive blocks (ignored)', accept: true, archive: (s) => Buffer.concat([rawTar(s.files), Buffer.from('garbage'.repeat(100))]) },
  { name: 'a global pax header with an escaping path (global paths are ignored)', accept: true, archive: (s) => rawTar([{ ...paxEntry({ path: `../../${s.escape}` }), type: 'g' }, ...s.files]) },
  { name: 'setuid, setgid and sticky bits in every header (modes come from the manifest)', accept: true, archive: (s) => rawTar(s.files.map((e) => ({ ...e, mode: 0o7777 }))) },
];

async function unpackScene(t: TestContext, c: Pick<ArchiveCase, 'release'>): Promise<Scene & { parent: string; destDir: string }> {
  const root = tempRoot(t);
  const release = (c.release ?? sampleRelease)();
  const parent = path.join(root, 'releases');
  fs.mkdirSync(parent);
  return { root, escape: escapeName(), release, files: fileEntries(release), parent, destDir: path.join(parent, releaseIdOf(release.manifest)) };
}

/** Nothing appeared: not the destination, not a temp sibling, not any escape target. */
function assertNothingLeft(scene: Scene & { parent: string; destDir: string }, before: string[]): void {
  assert.equal(fs.existsSync(scene.destDir), false, 'the destination must not exist');
  assert.deepEqual(fs.readdirSync(scene.parent), [], 'no .tmp- sibling may be left');
  assert.deepEqual(treeSnapshot(scene.root), before, 'nothing under the temp root changed');
  for (const target of [path.join(os.tmpdir(), scene.escape), path.join('/', scene.escape)]) assert.equal(fs.existsSync(target), false, `${target} must not exist`);
}

for (const c of CASES) {
  test(`archive: ${c.name} → ${c.accept ? 'accepted, tree equals the manifest' : (c.code ?? 'RELEASE_ARCHIVE_REJECTED')}`, async (t) => {
    const scene = await unpackScene(t, c);
    const tar = c.archive(scene);
    const archivePath = path.join(scene.root, 'release.tar.gz');
    fs.writeFileSync(archivePath, c.gzip === false ? tar : gzipSync(tar));
    const before = treeSnapshot(scene.root);
    const run = unpackRelease({ archivePath, manifest: scene.release.manifest, destDir: scene.destDir, maxTotalBytes: c.maxTotalBytes, maxFiles: c.maxFiles });
    if (c.accept) {
      await withinDeadline(run, UNPACK_DEADLINE_MS, 'unpackRelease');
      assert.deepEqual(await verifyTree(scene.destDir, scene.release.manifest), { modified: [], added: [], removed: [] });
      assert.deepEqual(fs.readdirSync(scene.parent), [path.basename(scene.destDir)], 'only the release folder');
      for (const f of scene.release.manifest.files) assert.equal(fs.statSync(path.join(scene.destDir, f.path)).mode & 0o7777, f.mode, `mode of ${f.path}`);
      assert.equal(fs.existsSync(path.join(os.tmpdir(), scene.escape)), false);
      return;
    }
    let error: unknown;
    await withinDeadline(run, UNPACK_DEADLINE_MS, 'unpackRelease').then(
      () => assert.fail('the archive was accepted'),
      (e: unknown) => (error = e),
    );
    assertSlipwayError(error, c.code ?? 'RELEASE_ARCHIVE_REJECTED', c.reason);
    assert.equal(error.exitCode, 1);
    assert.ok(error.hint, 'says what to do next');
    assertNothingLeft(scene, before);
  });
}

test('archive: the archive file is missing → RELEASE_ARCHIVE_UNREADABLE, nothing left', async (t) => {
  const scene = await unpackScene(t, {});
  const before = treeSnapshot(scene.root);
  await expectRejects(unpackRelease({ archivePath: path.join(scene.root, 'nope.tar.gz'), manifest: scene.release.manifest, destDir: scene.destDir }), 'RELEASE_ARCHIVE_UNREADABLE');
  assertNothingLeft(scene, before);
});

test('archive: the archive path is a folder → RELEASE_ARCHIVE_UNREADABLE, nothing left', async (t) => {
  const scene = await unpackScene(t, {});
  fs.mkdirSync(path.join(scene.root, 'folder.tar.gz'));
  const before = treeSnapshot(scene.root);
  await expectRejects(unpackRelease({ archivePath: path.join(scene.root, 'folder.tar.gz'), manifest: scene.release.manifest, destDir: scene.destDir }), 'RELEASE_ARCHIVE_UNREADABLE');
  assertNothingLeft(scene, before);
});

test('archive: the destination already exists → RELEASE_ALREADY_UNPACKED, and its content is untouched', async (t) => {
  const scene = await unpackScene(t, {});
  const archivePath = path.join(scene.root, 'release.tar.gz');
  fs.writeFileSync(archivePath, gzipSync(rawTar(scene.files)));
  fs.mkdirSync(scene.destDir);
  fs.writeFileSync(path.join(scene.destDir, 'server.js'), 'the running release');
  const before = treeSnapshot(scene.root);
  await expectRejects(unpackRelease({ archivePath, manifest: scene.release.manifest, destDir: scene.destDir }), 'RELEASE_ALREADY_UNPACKED');
  assert.deepEqual(treeSnapshot(scene.root), before);
  assert.equal(fs.readFileSync(path.join(scene.destDir, 'server.js'), 'utf8'), 'the running release');
});

test('archive: a 1 MB pax path is refused promptly (the error message must not take minutes to build)', async (t) => {
  // The path is refused at once, but it is quoted in the error message, and every
  // SlipwayError message goes through redactSecrets: its URL pattern was quadratic on
  // long runs of letters, so this archive blocked the agent's event loop for minutes.
  const scene = await unpackScene(t, {});
  const archivePath = path.join(scene.root, 'release.tar');
  fs.writeFileSync(archivePath, rawTar([paxEntry({ path: 'a'.repeat(1_000_000) }), ...scene.files]));
  const before = treeSnapshot(scene.root);
  const error = await runWithDeadline({
    moduleUrl: new URL('../../src/release/unpack.js', import.meta.url),
    exportName: 'unpackRelease',
    args: [{ archivePath, manifest: scene.release.manifest, destDir: scene.destDir }],
    deadlineMs: UNPACK_DEADLINE_MS,
  }).then(
    () => assert.fail('the archive was accepted'),
    (e: Error & { code?: string }) => e,
  );
  assert.equal(error.code, 'RELEASE_ARCHIVE_REJECTED', error.message);
  assert.match(error.message, /longer than 4096/);
  assertNothingLeft(scene, before);
});

// ---------------------------------------------------------------------------------------------
// Property: any mutation of a valid archive unpacks to exactly the manifest, or fails cleanly.

type Mutation =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number };

function mutate(bytes: Buffer, m: Mutation): Buffer {
  const at = Math.min(m.at, Math.max(0, bytes.length - 1));
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(bytes);
      out[at] ^= m.mask;
      return out;
    }
    case 'set': {
      const out = Buffer.from(bytes);
      out[at] = m.byte;
      return out;
    }
    case 'truncate':
      return bytes.subarray(0, at);
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)]);
  }
}

/** Mutations land mostly in headers (the interesting bytes), sometimes anywhere. */
function mutationArbitrary(length: number, headerOffsets: number[]): fc.Arbitrary<Mutation> {
  const position = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...headerOffsets), fc.integer({ min: 0, max: 511 })).map(([start, offset]) => start + offset) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: length - 1 }) },
  );
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: position, mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('set' as const), at: position, byte: fc.constantFrom(0x00, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x35, 0x37, 0x78, 0x4c, 0x80, 0xff) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.integer({ min: 0, max: length - 1 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 700 }) }),
  );
}

test('archive property: any byte flip, set, truncation, insertion or deletion → exactly the manifest tree, or a SlipwayError and nothing left', async (t) => {
  const root = tempRoot(t);
  const release = sampleRelease();
  const good = rawTar(fileEntries(release));
  const headerOffsets: number[] = [];
  for (let offset = 0; offset < good.length; ) {
    headerOffsets.push(offset);
    const size = parseInt(good.subarray(offset + 124, offset + 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (good.subarray(offset, offset + 512).every((b) => b === 0)) break;
  }
  let run = 0;
  const outcomes = { accepted: 0, rejected: 0 };
  await fc.assert(
    fc.asyncProperty(mutationArbitrary(good.length, headerOffsets), fc.boolean(), async (mutation, gzip) => {
      run += 1;
      const dir = path.join(root, `run-${run}`);
      const parent = path.join(dir, 'releases');
      fs.mkdirSync(parent, { recursive: true });
      const archivePath = path.join(dir, 'release.tar');
      const mutated = mutate(good, mutation);
      fs.writeFileSync(archivePath, gzip ? gzipSync(mutated) : mutated);
      const destDir = path.join(parent, shortId(releaseIdOf(release.manifest)));
      const before = treeSnapshot(dir);
      try {
        await withinDeadline(unpackRelease({ archivePath, manifest: release.manifest, destDir }), UNPACK_DEADLINE_MS, 'unpackRelease');
        outcomes.accepted += 1;
        assert.deepEqual(await verifyTree(destDir, release.manifest), { modified: [], added: [], removed: [] });
        assert.deepEqual(fs.readdirSync(parent), [path.basename(destDir)]);
      } catch (error) {
        if (!(error instanceof SlipwayError)) throw error;
        outcomes.rejected += 1;
        assert.match(error.code, /^RELEASE_ARCHIVE_(REJECTED|UNREADABLE)$/);
        assert.equal(fs.existsSync(destDir), false);
        assert.deepEqual(fs.readdirSync(parent), []);
        assert.deepEqual(treeSnapshot(dir), before);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    fcOptions(150),
  );
  // Both outcomes must occur, or the property tested nothing.
  assert.ok(outcomes.rejected > 0, JSON.stringify(outcomes));
  assert.ok(outcomes.accepted > 0, JSON.stringify(outcomes));
});

test('archive property: random entry lists built from hostile names and types never write outside the release', async (t) => {
  const root = tempRoot(t);
  const release = sampleRelease();
  const files = fileEntries(release);
  const escape = escapeName();
  const hostileName = fc.constantFrom(
    `../${escape}`,
    `../../${escape}`,
    `/tmp/${escape}`,
    `bin/../../${escape}`,
    `./${escape}`,
    `bin/`,
    `data/`,
    `server.js`,
    `server.js/`,
    `bin/start.sh`,
    `data/blob.bin/x`,
    `data\\..\\..\\${escape}`,
    `extra/${escape}`,
  );
  const entry = fc.record({
    name: hostileName,
    type: fc.constantFrom('0', '0', '1', '2', '3', '5', '6', '7', 'S'),
    linkname: fc.constantFrom('', '../../..', '/etc/passwd', 'server.js'),
    body: fc.constantFrom('', 'x', 'console.log("hello");\n'),
  });
  const item = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...files) },
    { weight: 2, arbitrary: entry.map((e): RawEntry => ({ ...e, body: e.type === '0' || e.type === '7' ? e.body : '' })) },
    { weight: 1, arbitrary: hostileName.map((p) => paxEntry({ path: p })) },
  );
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(item, { minLength: 0, maxLength: 10 }), async (entries) => {
      run += 1;
      const dir = path.join(root, `run-${run}`);
      const parent = path.join(dir, 'releases');
      fs.mkdirSync(parent, { recursive: true });
      const archivePath = path.join(dir, 'release.tar');
      fs.writeFileSync(archivePath, rawTar(entries));
      const destDir = path.join(parent, 'release');
      try {
        await withinDeadline(unpackRelease({ archivePath, manifest: release.manifest, destDir }), UNPACK_DEADLINE_MS, 'unpackRelease');
        assert.deepEqual(await verifyTree(destDir, release.manifest), { modified: [], added: [], removed: [] });
      } catch (error) {
        assert.ok(error instanceof SlipwayError, `expected a SlipwayError, got ${String(error)}`);
        assert.match(error.code, /^RELEASE_ARCHIVE_(REJECTED|UNREADABLE)$/);
        assert.equal(fs.existsSync(destDir), false);
        assert.deepEqual(fs.readdirSync(parent), []);
      }
      assert.deepEqual(fs.readdirSync(dir).sort(), ['release.tar', 'releases']);
      assert.equal(fs.existsSync(path.join(os.tmpdir(), escape)), false);
      fs.rmSync(dir, { recursive: true, force: true });
    }),
    fcOptions(150),
  );
});
