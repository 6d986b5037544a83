/**
 * A release handed over as one stream (what goes over SSH to a host that cannot reach
 * the store): the receiver takes only manifest, signature and contents named by
 * digest, checks each, and the sender leaves out what the receiver already holds.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import * as tar from 'tar';
import { releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import { contentsOf, manifestOf as manifestOfFiles, sha256Of } from '../helpers/manifests.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { putRelease, readReleaseManifest } from '../../src/store/releases.js';
import { receiveReleaseStream, writeReleaseStream } from '../../src/store/release-transfer.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

const sha = sha256Of;
const manifestOf = (version: string, files: Record<string, string>) => manifestOfFiles('app', version, files, [{ path: 'bin/tool', target: '../lib/a.js' }]);

async function publish(store: ReturnType<typeof createLocalStore>, manifest: ReleaseManifest, files: Record<string, string>): Promise<string> {
  const id = releaseIdOf(manifest);
  await putRelease(store, { app: 'app', id, manifestBytes: Buffer.from(JSON.stringify(manifest)), content: contentsOf(files) });
  return id;
}

/** Sends release `id` from one store to another through an in-memory stream; returns the bytes of contents sent. */
async function transfer(from: ReturnType<typeof createLocalStore>, to: ReturnType<typeof createLocalStore>, id: string): Promise<number> {
  const index = await loadObjectIndex(to, 'app');
  const pipe = new PassThrough();
  const [sent] = await Promise.all([
    writeReleaseStream({ store: from, app: 'app', id, out: pipe, skip: (d) => index.has(d) }),
    receiveReleaseStream({ store: to, app: 'app', id, input: pipe }),
  ]);
  return sent.bytes;
}

test('a stream carries the release; a second release carries only the contents the receiver lacks', async (t) => {
  const dir = tempDir(t, 'slipway-transfer-');
  const source = createLocalStore(path.join(dir, 'source'));
  const host = createLocalStore(path.join(dir, 'host'));
  const big = 'x'.repeat(100_000);
  const v1Files = { 'lib/a.js': big, 'lib/b.js': 'b\n' };
  const v1 = await publish(source, manifestOf('v1', v1Files), v1Files);
  const first = await transfer(source, host, v1);
  assert.ok(first > 100_000);
  assert.equal((await readReleaseManifest(host, 'app', v1)).links?.length, 1);

  const v2Files = { 'lib/a.js': big, 'lib/b.js': 'b, fixed\n' };
  const v2 = await publish(source, manifestOf('v2', v2Files), v2Files);
  const second = await transfer(source, host, v2);
  assert.ok(second < 10_000, `the second stream carried ${second} bytes`);
  const index = await loadObjectIndex(host, 'app');
  for (const content of Object.values(v2Files)) assert.ok(index.has(sha(content)));
});

test('a stream with a content that does not match its digest, or an entry of another name, is refused and stores nothing', async (t) => {
  const dir = tempDir(t, 'slipway-transfer-');
  const host = createLocalStore(path.join(dir, 'host'));
  const files = { 'lib/a.js': 'a\n' };
  const manifest = manifestOf('v1', files);
  const id = releaseIdOf(manifest);
  const staged = path.join(dir, 'staged');
  fs.mkdirSync(path.join(staged, 'objects'), { recursive: true });
  fs.writeFileSync(path.join(staged, 'manifest.json'), JSON.stringify(manifest));
  fs.writeFileSync(path.join(staged, 'objects', sha('a\n')), 'forged\n');
  const stream = (names: string[]) => tar.create({ cwd: staged, portable: true }, names) as unknown as NodeJS.ReadableStream;
  await expectRejects(receiveReleaseStream({ store: host, app: 'app', id, input: stream(['manifest.json', `objects/${sha('a\n')}`]) as never }), 'RELEASE_SOURCE_CHANGED');
  fs.writeFileSync(path.join(staged, 'extra.sh'), 'rm -rf /\n');
  await expectRejects(receiveReleaseStream({ store: host, app: 'app', id, input: stream(['manifest.json', 'extra.sh']) as never }), 'RELEASE_STREAM_INVALID');
  assert.deepEqual(await host.list('app/releases'), []);
});

test('a stream (release receive) carrying a release of another app is refused with RELEASE_WRONG_APP and stores nothing', async (t) => {
  const dir = tempDir(t, 'slipway-transfer-');
  const source = createLocalStore(path.join(dir, 'source'));
  const host = createLocalStore(path.join(dir, 'host'));
  const files = { 'lib/a.js': 'a\n' };
  const foreign = manifestOfFiles('billing', 'v1', files);
  const id = releaseIdOf(foreign);
  await putRelease(source, { app: 'billing', id, manifestBytes: Buffer.from(JSON.stringify(foreign)), content: contentsOf(files) });
  const pipe = new PassThrough();
  const [, received] = await Promise.allSettled([
    writeReleaseStream({ store: source, app: 'billing', id, out: pipe }),
    receiveReleaseStream({ store: host, app: 'app', id, input: pipe }),
  ]);
  assert.equal(received.status, 'rejected');
  assert.equal((received as PromiseRejectedResult).reason.code, 'RELEASE_WRONG_APP');
  assert.deepEqual(await host.list(''), [], 'the store changed');
});
