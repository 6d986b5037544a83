import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createLocalStore } from '../../src/store/local-store.js';
import { listTree } from '../helpers/cli.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

test('put, get, exists, list and delete round-trip', async (t) => {
  const root = tempDir(t, 'slipway-store-');
  const store = createLocalStore(root);
  assert.match(store.description, new RegExp(`local folder ${root}`));

  await store.put('notes/releases/a/info.json', '{"a":1}');
  await store.put('notes/releases/b/info.json', Buffer.from([0, 1, 2, 255]));
  await store.put('notes/channels/production.json', 'x');
  await store.put('other/x', 'y');

  assert.equal((await store.get('notes/releases/a/info.json'))?.toString(), '{"a":1}');
  assert.deepEqual(await store.get('notes/releases/b/info.json'), Buffer.from([0, 1, 2, 255]));
  assert.equal(await store.get('notes/releases/c/info.json'), null);
  assert.equal(await store.exists('notes/releases/a/info.json'), true);
  assert.equal(await store.exists('notes/releases/c/info.json'), false);
  // a folder is not an object
  assert.equal(await store.exists('notes/releases/a'), false);

  assert.deepEqual(await store.list('notes'), ['notes/channels/production.json', 'notes/releases/a/info.json', 'notes/releases/b/info.json']);
  assert.deepEqual(await store.list('notes/releases/'), ['notes/releases/a/info.json', 'notes/releases/b/info.json']);
  assert.deepEqual(await store.list(''), ['notes/channels/production.json', 'notes/releases/a/info.json', 'notes/releases/b/info.json', 'other/x']);
  assert.deepEqual(await store.list('nothing/here'), []);

  await store.delete('notes/releases/a/info.json');
  assert.equal(await store.exists('notes/releases/a/info.json'), false);
  assert.deepEqual(await store.list('notes/releases'), ['notes/releases/b/info.json']);
  await store.delete('notes/releases/a/info.json'); // deleting what is gone is fine
});

test('list of a prefix that is an object, not a folder, is empty rather than an error', async (t) => {
  const store = createLocalStore(tempDir(t, 'slipway-store-'));
  await store.put('notes/releases/a/info.json', '{}');
  assert.deepEqual(await store.list('notes/releases/a/info.json'), []);
});

test('a store root that is a file: reads find nothing, writes fail with STORE_WRITE_FAILED naming the store', async (t) => {
  const root = path.join(tempDir(t, 'slipway-store-'), 'a-file');
  fs.writeFileSync(root, 'not a folder');
  const store = createLocalStore(root);
  assert.equal(await store.get('notes/releases/x/info.json'), null);
  assert.equal(await store.exists('notes/releases/x/info.json'), false);
  assert.deepEqual(await store.list('notes'), []);
  assert.equal(await store.getToFile('notes/x', `${root}-out`), false);
  const error = await expectRejects(store.put('notes/x', 'y'), 'STORE_WRITE_FAILED', { hint: /--store/ });
  assert.ok(error.message.includes(root));
  await expectRejects(store.putFile('notes/x', root), 'STORE_WRITE_FAILED');
  assert.equal(fs.readFileSync(root, 'utf8'), 'not a folder');
});

test('a store that does not exist yet lists nothing and is created by the first put', async (t) => {
  const root = path.join(tempDir(t, 'slipway-store-'), 'not', 'yet');
  const store = createLocalStore(root);
  assert.deepEqual(await store.list(''), []);
  assert.equal(await store.get('a/b'), null);
  await store.put('a/b', 'c');
  assert.equal(fs.readFileSync(path.join(root, 'a', 'b'), 'utf8'), 'c');
});

test('putFile and getToFile copy whole files; getToFile of a missing key is false and writes nothing', async (t) => {
  const dir = tempDir(t, 'slipway-store-');
  const store = createLocalStore(path.join(dir, 'store'));
  const source = path.join(dir, 'source.bin');
  const body = Buffer.alloc(300_000, 7);
  fs.writeFileSync(source, body);
  await store.putFile('app/releases/x/release.tar.gz', source);

  const dest = path.join(dir, 'fetched.bin');
  assert.equal(await store.getToFile('app/releases/x/release.tar.gz', dest), true);
  assert.deepEqual(fs.readFileSync(dest), body);

  const missing = path.join(dir, 'missing.bin');
  assert.equal(await store.getToFile('app/releases/y/release.tar.gz', missing), false);
  assert.ok(!fs.existsSync(missing));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['fetched.bin', 'source.bin', 'store'], 'a partial download was left behind');
});

test('overwrites are atomic: concurrent readers see a whole old or whole new body, and no temp file is left', async (t) => {
  const dir = tempDir(t, 'slipway-store-');
  const root = path.join(dir, 'store');
  const store = createLocalStore(root);
  const bodies = Array.from({ length: 12 }, (_, i) => Buffer.alloc(256 * 1024, i + 1));
  const sources = bodies.map((body, i) => {
    const file = path.join(dir, `source-${i}`);
    fs.writeFileSync(file, body);
    return file;
  });
  const key = 'app/channels/production.json';
  await store.put(key, bodies[0]!);

  const seen: Buffer[] = [];
  let writing = true;
  const reader = (async () => {
    while (writing) {
      const got = await store.get(key);
      assert.ok(got, 'the object vanished during an overwrite');
      seen.push(got);
    }
  })();
  // put and putFile both, all at once, a few rounds (a torn write shows within a round or two)
  for (let round = 0; round < 4; round++) {
    await Promise.all(bodies.map((body, i) => (i % 2 === 0 ? store.put(key, body) : store.putFile(key, sources[i]!))));
  }
  writing = false;
  await reader;

  assert.ok(seen.length > 0);
  for (const got of seen) {
    assert.ok(
      bodies.some((body) => body.equals(got)),
      `a reader saw a torn object of ${got.length} bytes`,
    );
  }
  const final = await store.get(key);
  assert.ok(final && bodies.some((body) => body.equals(final)));
  assert.deepEqual(listTree(root), ['app/', 'app/channels/', 'app/channels/production.json'], 'temp files left behind');
  assert.deepEqual(await store.list('app'), [key]);
});

test('keys that could leave the store are refused by every operation', async (t) => {
  const dir = tempDir(t, 'slipway-store-');
  const store = createLocalStore(path.join(dir, 'store'));
  const source = path.join(dir, 'f');
  fs.writeFileSync(source, 'x');
  for (const key of ['..', '../escape', 'a/../../escape', '/etc/passwd', 'a//b', './a', 'a/./b', '']) {
    await expectRejects(store.put(key, 'x'), 'STORE_BAD_KEY', { context: `put ${JSON.stringify(key)}` });
    await expectRejects(store.putFile(key, source), 'STORE_BAD_KEY', { context: `putFile ${JSON.stringify(key)}` });
    await expectRejects(store.get(key), 'STORE_BAD_KEY', { context: `get ${JSON.stringify(key)}` });
    await expectRejects(store.getToFile(key, path.join(dir, 'out')), 'STORE_BAD_KEY', { context: `getToFile ${JSON.stringify(key)}` });
    await expectRejects(store.exists(key), 'STORE_BAD_KEY', { context: `exists ${JSON.stringify(key)}` });
    await expectRejects(store.delete(key), 'STORE_BAD_KEY', { context: `delete ${JSON.stringify(key)}` });
  }
  for (const prefix of ['..', '../x', '/etc']) {
    await expectRejects(store.list(prefix), 'STORE_BAD_KEY', { context: `list ${JSON.stringify(prefix)}` });
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['f'], 'something was written outside (or inside) the store');
});
