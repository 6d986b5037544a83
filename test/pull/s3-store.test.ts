import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Client, PutObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { startS3Server, S3RVER_CREDENTIALS, type RunningS3Server } from '../helpers/s3.js';
import { makeAppRepo, tempDir } from '../release/repo-fixture.js';
import { createS3Store } from '../../src/store/s3-store.js';
import { openStore } from '../../src/store/open-store.js';
import { buildRelease } from '../../src/release/build.js';
import { listReleases, putRelease, resolveRelease } from '../../src/store/releases.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { readObjects } from '../../src/store/read-objects.js';
import { channelHistory, readChannel, readChannelIfChanged, writeChannel, type ChannelPointer } from '../../src/store/channels.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { expectRejects } from '../helpers/expect-error.js';

const BUCKET = 'slipway-test';
let s3: RunningS3Server;
let raw: S3Client;

before(async () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  s3 = await startS3Server({ buckets: [BUCKET] });
  raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
});
after(async () => {
  raw?.destroy();
  await s3?.stop();
});

function storeWithPrefix(prefix: string): Promise<BlobStore> {
  return createS3Store({ bucket: BUCKET, endpoint: s3.endpoint, prefix, forcePathStyle: true }, s3.env);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

test('put, get, exists, list and delete behave like the local store, under a prefix', async () => {
  const store = await storeWithPrefix('team/slipway/');
  assert.match(store.description, /^s3:\/\/slipway-test\/team\/slipway\/ at http:\/\/127\.0\.0\.1:\d+$/);
  await store.put('app/releases/b/info.json', '{"b":1}');
  await store.put('app/releases/a/info.json', Buffer.from('{"a":1}'));
  await store.put('app/channels/production.json', 'pointer');
  await store.put('other/thing.txt', 'x');

  assert.equal((await store.get('app/releases/a/info.json'))?.toString(), '{"a":1}');
  assert.equal(await store.get('app/releases/missing.json'), null);
  assert.equal(await store.exists('app/channels/production.json'), true);
  assert.equal(await store.exists('app/channels/staging.json'), false);
  assert.deepEqual(await store.list('app/releases'), ['app/releases/a/info.json', 'app/releases/b/info.json']);
  assert.deepEqual(await store.list('app/'), ['app/channels/production.json', 'app/releases/a/info.json', 'app/releases/b/info.json']);
  assert.deepEqual(await store.list('nothing-here'), []);

  // A second store with another prefix in the same bucket sees none of it.
  const neighbour = await storeWithPrefix('elsewhere');
  assert.deepEqual(await neighbour.list(''), []);

  await store.delete('app/releases/a/info.json');
  await store.delete('app/releases/a/info.json');
  assert.equal(await store.exists('app/releases/a/info.json'), false);
  await expectRejects(store.get('../escape'), 'STORE_BAD_KEY');
});

test('putFile and getToFile round-trip a small file; a missing key leaves no file behind', async (t) => {
  const dir = tempDir(t);
  const store = await storeWithPrefix('files');
  const source = path.join(dir, 'small.bin');
  const bytes = randomBytes(200_000);
  fs.writeFileSync(source, bytes);
  const progress: number[] = [];
  await store.putFile('x/small.bin', source, { onProgress: (sent) => progress.push(sent) });
  assert.deepEqual(progress, [bytes.length]);
  const dest = path.join(dir, 'copy.bin');
  assert.equal(await store.getToFile('x/small.bin', dest), true);
  assert.equal(sha256(fs.readFileSync(dest)), sha256(bytes));
  const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'files/x/small.bin' }));
  assert.equal(head.Metadata?.sha256, sha256(bytes), 'the checksum travels in the object metadata');

  assert.equal(await store.getToFile('x/missing.bin', path.join(dir, 'missing.bin')), false);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['copy.bin', 'small.bin']);
});

test('a 40 MiB file goes up in parts and comes back identical', async (t) => {
  const dir = tempDir(t);
  const store = await storeWithPrefix('big');
  const source = path.join(dir, 'big.bin');
  const bytes = randomBytes(40 * 1024 * 1024);
  fs.writeFileSync(source, bytes);
  const progress: Array<[number, number]> = [];
  await store.putFile('release.tar.gz', source, { onProgress: (sent, total) => progress.push([sent, total]) });
  assert.equal(progress.length, 3, '16 + 16 + 8 MiB');
  assert.deepEqual(progress.at(-1), [bytes.length, bytes.length]);
  const dest = path.join(dir, 'back.bin');
  assert.equal(await store.getToFile('release.tar.gz', dest), true);
  assert.equal(sha256(fs.readFileSync(dest)), sha256(bytes));
});

test('an object changed behind the store\'s back is refused on download', async (t) => {
  const dir = tempDir(t);
  const store = await storeWithPrefix('tamper');
  const original = Buffer.from('the real release');
  await store.put('r/archive', original);
  // Someone rewrites the bytes but keeps the old checksum in the metadata.
  await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tamper/r/archive', Body: Buffer.from('something else'), Metadata: { sha256: sha256(original) } }));

  const error = await expectRejects(store.get('r/archive'), 'STORE_CHECKSUM_MISMATCH');
  assert.ok(error.hint);
  const dest = path.join(dir, 'archive');
  await expectRejects(store.getToFile('r/archive', dest), 'STORE_CHECKSUM_MISMATCH');
  assert.deepEqual(fs.readdirSync(dir), [], 'no partial or unverified file is left');
});

test('getIfChanged answers "not modified" for an unchanged object', async () => {
  const store = await storeWithPrefix('cond');
  assert.ok(store.getIfChanged);
  assert.equal(await store.getIfChanged('channels/production.json', null), null);
  await store.put('channels/production.json', '{"v":1}');
  const first = await store.getIfChanged('channels/production.json', null);
  assert.ok(first && !first.notModified);
  assert.equal(first.body.toString(), '{"v":1}');
  assert.deepEqual(await store.getIfChanged('channels/production.json', first.etag), { notModified: true });
  await store.put('channels/production.json', '{"v":2}');
  const second = await store.getIfChanged('channels/production.json', first.etag);
  assert.ok(second && !second.notModified);
  assert.equal(second.body.toString(), '{"v":2}');
  assert.notEqual(second.etag, first.etag);
});

test('a missing bucket, an unreachable endpoint: clear errors, no credentials in messages', async () => {
  const missing = await createS3Store({ bucket: 'no-such-bucket', endpoint: s3.endpoint, forcePathStyle: true }, s3.env);
  const noBucket = await expectRejects(missing.get('x.json'), 'STORE_BUCKET_NOT_FOUND');
  assert.match(noBucket.hint ?? '', /bucket/);

  const secret = 'super-secret-key-value-123';
  const unreachable = await createS3Store(
    { bucket: BUCKET, endpoint: 'http://127.0.0.1:9', forcePathStyle: true },
    { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: secret },
  );
  const down = await expectRejects(unreachable.list('x'), 'STORE_UNREACHABLE');
  assert.match(down.hint ?? '', /endpoint/);
  for (const text of [down.message, down.hint ?? '', unreachable.description]) assert.ok(!text.includes(secret));
});

test('openStore opens an s3 store from the environment config', async () => {
  const store = await openStore({ type: 's3', bucket: BUCKET, endpoint: s3.endpoint, prefix: 'opened', forcePathStyle: true }, os.tmpdir(), s3.env);
  await store.put('k', 'v');
  assert.equal((await store.get('k'))?.toString(), 'v');
  assert.match(store.description, /^s3:\/\/slipway-test\/opened\//);
});

test('releases and channels live in S3 as they do in a local folder', async (t) => {
  const repo = makeAppRepo(t);
  const store = await storeWithPrefix('rel');
  const built = await buildRelease({ project: repo.project(), ref: 'v1', outDir: repo.scratch });
  const { info } = await putRelease(store, { app: 'demo', id: built.id, manifestBytes: fs.readFileSync(built.manifestPath), content: built.content });
  assert.equal(info.version, 'v1');
  assert.deepEqual((await listReleases(store, 'demo')).map((r) => r.id), [built.id]);
  assert.equal((await resolveRelease(store, 'demo', 'v1')).id, built.id);
  assert.equal((await resolveRelease(store, 'demo', built.id.slice(0, 10))).id, built.id);

  // Contents come back by ranged reads of the pack, each checked against the manifest's digest.
  const wanted = built.manifest.files.map((f) => ({ sha256: f.sha256, size: f.size }));
  const got = new Map<string, string>();
  await readObjects(store, 'demo', wanted, await loadObjectIndex(store, 'demo'), (digest, content) => {
    got.set(digest, sha256(content));
  });
  for (const file of built.manifest.files) assert.equal(got.get(file.sha256), file.sha256, file.path);

  const pointer = (why: string, when: string): ChannelPointer => ({ environment: 'production', releaseId: built.id, version: 'v1', who: 'ci', when, why });
  assert.equal(await readChannel(store, 'demo', 'production'), null);
  await writeChannel(store, 'demo', pointer('first', '2025-01-01T00:00:00.000Z'));
  const firstRead = await readChannelIfChanged(store, 'demo', 'production', null);
  assert.ok(firstRead.changed && firstRead.pointer?.why === 'first');
  assert.deepEqual(await readChannelIfChanged(store, 'demo', 'production', firstRead.etag), { changed: false });
  await writeChannel(store, 'demo', pointer('again', '2025-01-02T00:00:00.000Z'));
  assert.equal((await readChannel(store, 'demo', 'production'))?.why, 'again');
  assert.deepEqual((await channelHistory(store, 'demo', 'production')).map((p) => p.why), ['first', 'again']);
  const changed = await readChannelIfChanged(store, 'demo', 'production', firstRead.etag);
  assert.ok(changed.changed && changed.pointer?.why === 'again');
});

test('an S3 read past maxBytes is cut off and refused (STORE_OBJECT_TOO_LARGE); an oversized channel pointer is CHANNEL_CORRUPT', async () => {
  const store = await storeWithPrefix('bounded');
  await store.put('a/at-limit', Buffer.alloc(1000, 1));
  await store.put('a/past-limit', Buffer.alloc(300_000, 1));
  assert.equal((await store.get('a/at-limit', { maxBytes: 1000 }))?.length, 1000);
  await expectRejects(store.get('a/past-limit', { maxBytes: 1000 }), 'STORE_OBJECT_TOO_LARGE', /cut off/);
  await expectRejects(store.getIfChanged!('a/past-limit', null, { maxBytes: 1000 }), 'STORE_OBJECT_TOO_LARGE');
  assert.equal(await store.get('a/missing', { maxBytes: 10 }), null);
  await store.put('demo/channels/production.json', JSON.stringify({ why: 'x'.repeat(70_000) }));
  await expectRejects(readChannelIfChanged(store, 'demo', 'production', null), 'CHANNEL_CORRUPT', /larger than 65536 bytes/);
  await expectRejects(readChannel(store, 'demo', 'production'), 'CHANNEL_CORRUPT', /larger than 65536 bytes/);
});
