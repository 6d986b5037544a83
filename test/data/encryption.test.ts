// AES-256-GCM file encryption for off-site copies: round trip, tampering anywhere, wrong keys.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { backupKeyId, decryptFile, encryptedKeyId, encryptFile, parseBackupKey } from '../../src/data/encryption.js';
import { flipByte, tempDir } from './fixtures.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('round trip of a multi-megabyte file; the key id is recorded, the key never', async (t) => {
  const dir = tempDir(t);
  const key = randomBytes(32);
  const plain = randomBytes(3 * 1024 * 1024 + 123);
  const input = path.join(dir, 'backup.pgdump');
  fs.writeFileSync(input, plain);
  const encrypted = path.join(dir, 'backup.pgdump.enc');
  const result = await encryptFile({ input, output: encrypted, key });
  const bytes = fs.readFileSync(encrypted);
  assert.equal(result.keyId, backupKeyId(key));
  assert.equal(result.keyId, sha256(key).slice(0, 16));
  assert.equal(result.bytes, bytes.length);
  assert.equal(result.bytes, plain.length + 36 + 16, 'header + ciphertext + tag');
  assert.equal(result.sha256, sha256(bytes));
  assert.equal(bytes.subarray(0, 7).toString(), 'SLWYENC');
  assert.equal(bytes.indexOf(key), -1);
  assert.equal(bytes.indexOf(plain.subarray(0, 64)), -1, 'no plaintext in the file');
  assert.equal(await encryptedKeyId(encrypted), result.keyId);

  const output = path.join(dir, 'restored.pgdump');
  const decrypted = await decryptFile({ input: encrypted, output, key });
  assert.equal(decrypted.sha256, sha256(plain));
  assert.deepEqual(fs.readFileSync(output), plain);
});

test('two encryptions of the same file differ (random IV) and an empty file round-trips', async (t) => {
  const dir = tempDir(t);
  const key = randomBytes(32);
  const input = path.join(dir, 'empty');
  fs.writeFileSync(input, '');
  await encryptFile({ input, output: path.join(dir, 'a.enc'), key });
  await encryptFile({ input, output: path.join(dir, 'b.enc'), key });
  assert.notDeepEqual(fs.readFileSync(path.join(dir, 'a.enc')), fs.readFileSync(path.join(dir, 'b.enc')));
  const out = await decryptFile({ input: path.join(dir, 'a.enc'), output: path.join(dir, 'a.out'), key });
  assert.equal(out.bytes, 0);
  assert.equal(fs.readFileSync(path.join(dir, 'a.out')).length, 0);
});

test('tampering with the header, the ciphertext or the tag fails with BACKUP_CORRUPT and writes nothing', async (t) => {
  const dir = tempDir(t);
  const key = randomBytes(32);
  const input = path.join(dir, 'plain');
  fs.writeFileSync(input, randomBytes(200_000));
  const encrypted = path.join(dir, 'enc');
  await encryptFile({ input, output: encrypted, key });
  const size = fs.statSync(encrypted).size;
  // The IV (header, authenticated as additional data), the middle of the ciphertext, the last byte of the tag.
  for (const offset of [30, Math.floor(size / 2), size - 1]) {
    const copy = path.join(dir, `tampered-${offset}`);
    fs.copyFileSync(encrypted, copy);
    flipByte(copy, offset);
    const output = path.join(dir, `out-${offset}`);
    await expectRejects(decryptFile({ input: copy, output, key }), 'BACKUP_CORRUPT', { context: `offset ${offset}` });
    assert.equal(fs.existsSync(output), false);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.tmp-')), [], 'no temporary plaintext left');
  }
  const notOurs = path.join(dir, 'not-ours');
  fs.writeFileSync(notOurs, randomBytes(100));
  await expectRejects(decryptFile({ input: notOurs, output: path.join(dir, 'x'), key }), 'BACKUP_CORRUPT');
});

test('the wrong key is named by its id; keys parse from hex or base64 and nothing else', async (t) => {
  const dir = tempDir(t);
  const key = randomBytes(32);
  const other = randomBytes(32);
  const input = path.join(dir, 'plain');
  fs.writeFileSync(input, 'data');
  const encrypted = path.join(dir, 'enc');
  await encryptFile({ input, output: encrypted, key });
  const mismatch = await expectRejects(decryptFile({ input: encrypted, output: path.join(dir, 'out'), key: other }), 'BACKUP_KEY_MISMATCH');
  assert.ok(mismatch.message.includes(backupKeyId(key)), mismatch.message);
  assert.ok(mismatch.message.includes(backupKeyId(other)), mismatch.message);
  assert.equal(fs.existsSync(path.join(dir, 'out')), false);

  assert.deepEqual(parseBackupKey(key.toString('hex')), key);
  assert.deepEqual(parseBackupKey(key.toString('base64')), key);
  assert.deepEqual(parseBackupKey(` ${key.toString('base64url')}\n`), key);
  for (const bad of ['', 'short', randomBytes(16).toString('hex'), randomBytes(31).toString('base64'), 'g'.repeat(64)]) {
    expectThrows(() => parseBackupKey(bad), 'BACKUP_KEY_INVALID', { exitCode: 2, context: bad });
  }
});
