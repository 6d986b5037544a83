import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildRelease } from '../../src/release/build.js';
import { sign as rawSign, createPrivateKey } from 'node:crypto';
import { generateSigningKeyPair, parseReleaseSignature, publicKeyId, signRelease, verifyReleaseSignature, writeKeyPair } from '../../src/release/sign.js';
import { makeAppRepo, tempDir } from './repo-fixture.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';

const ID = 'ab'.repeat(32);
/** what a signature covers: app, version and id */
const REL = { app: 'notes', version: 'v1', id: ID };

/** Every refusal has a hint. */
const WITH_HINT = { hint: /./ };

test('sign: a signature by a trusted key verifies; the key id comes from the public key', () => {
  const pair = generateSigningKeyPair();
  assert.match(pair.keyId, /^[0-9a-f]{16}$/);
  assert.equal(publicKeyId(pair.publicKeyPem), pair.keyId);
  const signature = signRelease(REL, pair.privateKeyPem);
  assert.equal(signature.alg, 'ed25519');
  assert.equal(signature.keyId, pair.keyId);
  const other = generateSigningKeyPair();
  verifyReleaseSignature(REL, signature, [other.publicKeyPem, pair.publicKeyPem]);
  assert.deepEqual(parseReleaseSignature(JSON.stringify(signature)), signature);
});

test('sign: unsigned is RELEASE_UNSIGNED', () => {
  const pair = generateSigningKeyPair();
  expectThrows(() => verifyReleaseSignature(REL, null, [pair.publicKeyPem]), 'RELEASE_UNSIGNED', WITH_HINT);
});

test('sign: another key, another id or a damaged signature is RELEASE_SIGNATURE_INVALID', () => {
  const trusted = generateSigningKeyPair();
  const stranger = generateSigningKeyPair();
  expectThrows(() => verifyReleaseSignature(REL, signRelease(REL, stranger.privateKeyPem), [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', WITH_HINT);
  expectThrows(() => verifyReleaseSignature(REL, signRelease(REL, stranger.privateKeyPem), []), 'RELEASE_SIGNATURE_INVALID', WITH_HINT);
  const good = signRelease(REL, trusted.privateKeyPem);
  expectThrows(() => verifyReleaseSignature({ ...REL, id: 'cd'.repeat(32) }, good, [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', WITH_HINT);
  const bytes = Buffer.from(good.signature, 'base64');
  bytes[0] ^= 1;
  expectThrows(() => verifyReleaseSignature(REL, { ...good, signature: bytes.toString('base64') }, [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', WITH_HINT);
  // a signature claiming a trusted key id, made by another key
  const forged = { ...signRelease(REL, stranger.privateKeyPem), keyId: trusted.keyId };
  expectThrows(() => verifyReleaseSignature(REL, forged, [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', WITH_HINT);
  expectThrows(() => parseReleaseSignature('{"alg":"rsa"}'), 'RELEASE_SIGNATURE_INVALID', WITH_HINT);
  expectThrows(() => signRelease(REL, 'not a key'), 'SIGNING_KEY_INVALID', WITH_HINT);
});

test('sign: a signature names the app, the version and the id: a signature of another app or version does not verify', () => {
  const trusted = generateSigningKeyPair();
  const good = signRelease(REL, trusted.privateKeyPem);
  verifyReleaseSignature(REL, good, [trusted.publicKeyPem]);
  expectThrows(() => verifyReleaseSignature({ ...REL, app: 'billing' }, good, [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', { hint: /another app, version or release/ });
  expectThrows(() => verifyReleaseSignature({ ...REL, version: 'v2' }, good, [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', { hint: /another app, version or release/ });
  expectThrows(() => verifyReleaseSignature({ ...REL, id: 'cd'.repeat(32) }, good, [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', WITH_HINT);
});

test('sign: a signature made the old way (over the id alone) is refused with a message saying to build and publish again', () => {
  const trusted = generateSigningKeyPair();
  const old = { ...signRelease(REL, trusted.privateKeyPem), signature: rawSign(null, Buffer.from(ID, 'ascii'), createPrivateKey(trusted.privateKeyPem)).toString('base64') };
  expectThrows(() => verifyReleaseSignature(REL, old, [trusted.publicKeyPem]), 'RELEASE_SIGNATURE_INVALID', { message: /signed the old way/, hint: /publish it again/ });
});

test('sign: writeKeyPair writes <name>.key 0600 and <name>.pub 0644 and never overwrites', async (t) => {
  const dir = path.join(tempDir(t), 'keys');
  const written = await writeKeyPair(dir, 'release');
  assert.equal(written.privateKey, path.join(dir, 'release.key'));
  assert.equal(written.publicKey, path.join(dir, 'release.pub'));
  assert.equal(fs.statSync(written.privateKey).mode & 0o777, 0o600);
  assert.equal(fs.statSync(written.publicKey).mode & 0o777, 0o644);
  const publicKeyPem = fs.readFileSync(written.publicKey, 'utf8');
  assert.equal(publicKeyId(publicKeyPem), written.keyId);
  verifyReleaseSignature(REL, signRelease(REL, fs.readFileSync(written.privateKey, 'utf8')), [publicKeyPem]);

  const before = fs.readFileSync(written.privateKey);
  await expectRejects(writeKeyPair(dir, 'release'), 'SIGNING_KEY_EXISTS', WITH_HINT);
  assert.ok(fs.readFileSync(written.privateKey).equals(before), 'the old key is untouched');
  await expectRejects(writeKeyPair(dir, '../escape'), 'SIGNING_KEY_NAME_INVALID', WITH_HINT);
});

test('sign: a build with a signing key writes signature.json that verifies against the public key', async (t) => {
  const repo = makeAppRepo(t);
  const pair = generateSigningKeyPair();
  const built = await buildRelease({ project: repo.project(), outDir: path.join(repo.scratch, 'out'), signingKey: { privateKeyPem: pair.privateKeyPem } });
  assert.equal(built.signaturePath, path.join(repo.scratch, 'out', 'signature.json'));
  const signature = parseReleaseSignature(fs.readFileSync(built.signaturePath!));
  verifyReleaseSignature({ app: 'demo', version: built.manifest.version, id: built.id }, signature, [pair.publicKeyPem]);
  // building again unsigned into the same folder leaves no stale signature behind
  const unsigned = await buildRelease({ project: repo.project(), outDir: path.join(repo.scratch, 'out') });
  assert.equal(unsigned.signaturePath, undefined);
  assert.equal(fs.existsSync(path.join(repo.scratch, 'out', 'signature.json')), false);
});
