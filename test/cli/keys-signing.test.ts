/** `slipway keys generate` and signed builds, through the real CLI. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseReleaseSignature, publicKeyId, verifyReleaseSignature } from '../../src/release/sign.js';
import { createNotesRepo, describeRun, listTree, makeSandbox, parseJsonOutput, type Sandbox } from '../helpers/cli.js';

interface KeyPairJson {
  keyId: string;
  privateKey: string;
  publicKey: string;
}

interface ReleaseJson {
  id: string;
  version: string;
  signed: boolean;
}

const mode = (file: string) => fs.statSync(file).mode & 0o777;

// One repository for the file (building is what these tests are about, not the repo).
const sandbox: Sandbox = makeSandbox({ after });
let repo: string;
before(async () => {
  repo = await createNotesRepo(path.join(sandbox.root, 'repo'));
});

test('keys generate writes <name>.key (0600) and <name>.pub (0644) and never overwrites them', async (t) => {
  const s = makeSandbox(t);
  const dir = path.join(s.root, 'keys');
  const result = await s.run(['keys', 'generate', '--dir', dir, '--json']);
  assert.equal(result.code, 0, describeRun(result));
  const pair = parseJsonOutput<KeyPairJson>(result);
  assert.deepEqual(Object.keys(pair).sort(), ['keyId', 'privateKey', 'publicKey']);
  assert.equal(pair.privateKey, path.join(dir, 'slipway.key'));
  assert.equal(pair.publicKey, path.join(dir, 'slipway.pub'));
  assert.equal(mode(pair.privateKey), 0o600);
  assert.equal(mode(pair.publicKey), 0o644);
  const privatePem = fs.readFileSync(pair.privateKey, 'utf8');
  const publicPem = fs.readFileSync(pair.publicKey, 'utf8');
  assert.match(privatePem, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(pair.keyId, publicKeyId(publicPem));

  const again = await s.run(['keys', 'generate', '--dir', dir]);
  assert.equal(again.code, 2, describeRun(again));
  assert.match(again.stderr, /slipway\.key already exists/);
  assert.equal(fs.readFileSync(pair.privateKey, 'utf8'), privatePem, 'the key was overwritten');
  assert.equal(fs.readFileSync(pair.publicKey, 'utf8'), publicPem);

  // another name sits beside it; a name that is a path is refused
  const other = await s.run(['keys', 'generate', '--dir', dir, '--name', 'ci']);
  assert.equal(other.code, 0, describeRun(other));
  assert.match(other.stdout, /^key [0-9a-f]{16}\n/);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['ci.key', 'ci.pub', 'slipway.key', 'slipway.pub']);
  const badName = await s.run(['keys', 'generate', '--dir', dir, '--name', '../escape']);
  assert.equal(badName.code, 2, describeRun(badName));
  assert.ok(!fs.existsSync(path.join(s.root, 'escape.key')));
});

test('keys generate without --dir writes into $SLIPWAY_HOME/keys', async (t) => {
  const s = makeSandbox(t);
  const result = await s.run(['keys', 'generate', '--json']);
  assert.equal(result.code, 0, describeRun(result));
  assert.equal(parseJsonOutput<KeyPairJson>(result).privateKey, path.join(s.home, 'keys', 'slipway.key'));
  assert.equal(mode(path.join(s.home, 'keys', 'slipway.key')), 0o600);
});

test('build --key signs the release: releases --json says signed, and the signature verifies with the .pub', async () => {
  const keys = path.join(sandbox.root, 'keys');
  const generated = await sandbox.run(['keys', 'generate', '--dir', keys, '--json']);
  assert.equal(generated.code, 0, describeRun(generated));
  const pair = parseJsonOutput<KeyPairJson>(generated);

  const built = await sandbox.run(['build', '--ref', 'v1', '--key', pair.privateKey, '--json'], { cwd: repo });
  assert.equal(built.code, 0, describeRun(built));
  const { id, version } = parseJsonOutput<{ id: string; version: string }>(built);
  const list = parseJsonOutput<ReleaseJson[]>(await sandbox.run(['releases', '--json'], { cwd: repo }));
  assert.deepEqual(
    list.map((r) => [r.id, r.signed]),
    [[id, true]],
  );

  const signature = parseReleaseSignature(fs.readFileSync(path.join(sandbox.home, 'store', 'notes', 'releases', id, 'signature.json')));
  assert.equal(signature.keyId, pair.keyId);
  verifyReleaseSignature({ app: 'notes', version, id }, signature, [fs.readFileSync(pair.publicKey, 'utf8')]);
});

test('signing.key in slipway.yml signs builds too (relative to the project folder)', async (t) => {
  const s = makeSandbox(t);
  const project = await createNotesRepo(path.join(s.root, 'repo'));
  const generated = parseJsonOutput<KeyPairJson>(await s.run(['keys', 'generate', '--dir', path.join(s.root, 'keys'), '--json']));
  // the signing key is a setting of the machine that builds: it is read from the working copy
  fs.appendFileSync(path.join(project, 'slipway.yml'), 'signing:\n  key: ../keys/slipway.key\n');
  const built = await s.run(['build', '--ref', 'v2', '--json'], { cwd: project });
  assert.equal(built.code, 0, describeRun(built));
  const list = parseJsonOutput<ReleaseJson[]>(await s.run(['releases', '--json'], { cwd: project }));
  assert.deepEqual(
    list.map((r) => [r.version, r.signed]),
    [['v2', true]],
  );
  assert.ok(generated.keyId);
});

test('a signing key readable by others, or missing, is refused with exit 2 and nothing is stored', async (t) => {
  const s = makeSandbox(t);
  const keys = path.join(s.root, 'keys');
  const pair = parseJsonOutput<KeyPairJson>(await s.run(['keys', 'generate', '--dir', keys, '--json']));
  fs.chmodSync(pair.privateKey, 0o644);
  const homeBefore = listTree(s.home);

  const open = await s.run(['build', '--ref', 'v1', '--key', pair.privateKey], { cwd: repo });
  assert.equal(open.code, 2, describeRun(open));
  assert.match(open.stderr, /readable by others \(mode 644\)/);
  assert.match(open.stderr, /hint: run `chmod 600 /);

  const missing = await s.run(['build', '--ref', 'v1', '--key', path.join(keys, 'nope.key')], { cwd: repo });
  assert.equal(missing.code, 2, describeRun(missing));
  assert.match(missing.stderr, /cannot read the signing key .*nope\.key/);

  const notAKey = path.join(keys, 'not-a-key.key');
  fs.writeFileSync(notAKey, 'hello\n', { mode: 0o600 });
  const invalid = await s.run(['build', '--ref', 'v1', '--key', notAKey], { cwd: repo });
  assert.equal(invalid.code, 2, describeRun(invalid));
  assert.match(invalid.stderr, /not a valid PEM key/);

  assert.deepEqual(listTree(s.home), homeBefore);
  assert.deepEqual(listTree(s.tmp), []);
});
