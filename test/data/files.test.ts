// The files engine: a folder of uploads round-trips by hash tree (nested folders,
// binary and empty files, modes, links), restored by swapping in a complete copy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fingerprintFolder, filesEngine } from '../../src/data/engines/files.js';
import { flipByte, skipLoudly, tempDir } from './fixtures.js';
import { expectRejects } from '../helpers/expect-error.js';

const env = { PATH: process.env.PATH };

function seedUploads(dir: string): void {
  fs.mkdirSync(path.join(dir, 'users', '42', 'avatars'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'empty-folder'));
  fs.writeFileSync(path.join(dir, 'users', '42', 'avatars', 'me.png'), randomBytes(70_000));
  fs.writeFileSync(path.join(dir, 'users', 'list.txt'), 'ünïcode ✓\n');
  fs.writeFileSync(path.join(dir, 'empty.txt'), '');
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.chmodSync(path.join(dir, 'run.sh'), 0o755);
  fs.writeFileSync(path.join(dir, 'private.key'), 'secret', { mode: 0o600 });
  fs.chmodSync(path.join(dir, 'private.key'), 0o600);
  fs.writeFileSync(path.join(dir, 'name with spaces & ünïcode.bin'), randomBytes(1000));
  fs.symlinkSync('users/list.txt', path.join(dir, 'latest'));
  fs.linkSync(path.join(dir, 'users', 'list.txt'), path.join(dir, 'hardlink.txt'));
}

test('round trip by hash tree: restore(backup(folder)) equals the folder, modes and links included', async (t) => {
  const dir = tempDir(t);
  const uploads = path.join(dir, 'shared', 'uploads');
  seedUploads(uploads);
  const item = { kind: 'folder' as const, name: 'uploads', engine: 'files' as const, dir: uploads };
  const original = await fingerprintFolder(uploads);
  assert.equal(original['run.sh'].checksum.slice(0, 5), 'f0755');
  assert.equal(original['private.key'].checksum.slice(0, 5), 'f0600');
  assert.equal(original['empty.txt'].rows, 0);
  assert.equal(original.latest.checksum, 'l:users/list.txt');
  assert.ok(original['empty-folder']);

  const backupFile = path.join(dir, 'uploads.tar.gz');
  await filesEngine.backup({ item, outFile: backupFile, env });
  assert.deepEqual(await filesEngine.inspect({ item, file: backupFile, env }), original, 'the archive holds exactly the folder');

  fs.rmSync(path.join(uploads, 'users'), { recursive: true });
  fs.writeFileSync(path.join(uploads, 'empty.txt'), 'no longer empty');
  fs.chmodSync(path.join(uploads, 'run.sh'), 0o644);
  fs.writeFileSync(path.join(uploads, 'added-after.txt'), 'new');
  assert.notDeepEqual(await fingerprintFolder(uploads), original);

  await filesEngine.restore({ item, file: backupFile, env });
  assert.deepEqual(await fingerprintFolder(uploads), original);
  assert.deepEqual(fs.readdirSync(path.dirname(uploads)), ['uploads'], 'no temporary or old folder left beside it');
  assert.deepEqual(await filesEngine.scratchFingerprint({ item, file: backupFile, env }), original);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['shared', 'uploads.tar.gz'], 'the scratch folder is gone');
});

test('a folder that is a link to another disk is restored where it points, and the link stays', async (t) => {
  const dir = tempDir(t);
  const real = path.join(dir, 'big-disk', 'uploads');
  seedUploads(real);
  fs.mkdirSync(path.join(dir, 'shared'));
  const linked = path.join(dir, 'shared', 'uploads');
  fs.symlinkSync(real, linked);
  const item = { kind: 'folder' as const, name: 'uploads', engine: 'files' as const, dir: linked };
  const original = await fingerprintFolder(real);
  const backupFile = path.join(dir, 'uploads.tar.gz');
  await filesEngine.backup({ item, outFile: backupFile, env });
  fs.rmSync(path.join(real, 'users'), { recursive: true });

  await filesEngine.restore({ item, file: backupFile, env });
  assert.ok(fs.lstatSync(linked).isSymbolicLink());
  assert.deepEqual(await fingerprintFolder(real), original);
});

test('a damaged archive is refused by the structural check, and a failed restore leaves the folder as it was', async (t) => {
  const dir = tempDir(t);
  const uploads = path.join(dir, 'uploads');
  seedUploads(uploads);
  const item = { kind: 'folder' as const, name: 'uploads', engine: 'files' as const, dir: uploads };
  const backupFile = path.join(dir, 'uploads.tar.gz');
  await filesEngine.backup({ item, outFile: backupFile, env });
  fs.writeFileSync(path.join(uploads, 'after.txt'), 'written after the backup');
  const now = await fingerprintFolder(uploads);

  flipByte(backupFile);
  await expectRejects(filesEngine.inspect({ item, file: backupFile, env }), 'BACKUP_CORRUPT');
  await expectRejects(filesEngine.restore({ item, file: backupFile, env }), 'BACKUP_CORRUPT');
  assert.deepEqual(await fingerprintFolder(uploads), now);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['uploads', 'uploads.tar.gz']);

  const truncated = path.join(dir, 'truncated.tar.gz');
  fs.writeFileSync(truncated, fs.readFileSync(backupFile).subarray(0, 2000));
  await expectRejects(filesEngine.inspect({ item, file: truncated, env }), 'BACKUP_CORRUPT');
});

test('special files (a FIFO, even as the last entry) are skipped, not waited on', { timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  const uploads = path.join(dir, 'uploads');
  fs.mkdirSync(uploads);
  fs.writeFileSync(path.join(uploads, 'a.txt'), 'a');
  const mkfifo = spawnSync('mkfifo', [path.join(uploads, 'zz-pipe')]);
  if (mkfifo.status !== 0) return skipLoudly(t, 'mkfifo is not available');
  const item = { kind: 'folder' as const, name: 'uploads', engine: 'files' as const, dir: uploads };
  const backupFile = path.join(dir, 'uploads.tar.gz');
  await filesEngine.backup({ item, outFile: backupFile, env });
  assert.deepEqual(Object.keys(await filesEngine.inspect({ item, file: backupFile, env })), ['a.txt']);
});

test('a data folder that is a file is refused', async (t) => {
  const dir = tempDir(t);
  const notAFolder = path.join(dir, 'uploads');
  fs.writeFileSync(notAFolder, 'x');
  await expectRejects(filesEngine.backup({ item: { kind: 'folder', name: 'uploads', engine: 'files', dir: notAFolder }, outFile: path.join(dir, 'o.tar.gz'), env }), 'BACKUP_SOURCE_INVALID');
  assert.equal(fs.existsSync(path.join(dir, 'o.tar.gz')), false);
});
