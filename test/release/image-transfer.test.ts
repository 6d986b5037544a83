/**
 * Container images travel with their release between stores: a copy (promote, a host
 * pulling from S3) and the release stream (`release receive` over SSH) carry the image
 * layers and configs the receiving store lacks, and only those.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, test } from 'node:test';
import * as tar from 'tar';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { releaseImageObjects } from '../../src/store/image-objects.js';
import { copyRelease, hasRelease, receiveReleaseStream, writeReleaseStream } from '../../src/store/release-transfer.js';
import { requireDocker } from '../helpers/docker.js';
import { expectRejects } from '../helpers/expect-error.js';
import { buildAndStore, makeImageRepo, removeImagesOf } from '../helpers/image-repo.js';

const APP = 'imgxfer';
after(() => removeImagesOf(APP));

/** The entries of a release stream. */
async function streamEntries(bytes: Buffer): Promise<string[]> {
  const names: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const lister = tar.t({ onReadEntry: (entry) => void names.push(entry.path) });
    lister.on('end', () => resolve());
    lister.on('error', reject);
    lister.end(bytes);
  });
  return names.sort();
}

async function collect(write: (out: PassThrough) => Promise<unknown>): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  await write(out);
  return Buffer.concat(chunks);
}

test('image transfer: a copy and a release stream carry the image objects the receiving store lacks, and only those', async (t) => {
  if (!requireDocker(t)) return;
  const repo = makeImageRepo(t, APP, `console.log("xfer ${Date.now()}");\n`);
  const source = createLocalStore(path.join(repo.scratch, 'source'));
  const v1 = await buildAndStore({ project: repo.containerProject(), store: source, outDir: path.join(repo.scratch, 'out1') });
  repo.write('app.js', `console.log("xfer v2 ${Date.now()}");\n`);
  repo.commit('v2');
  const v2 = await buildAndStore({ project: repo.containerProject(), store: source, outDir: path.join(repo.scratch, 'out2'), version: 'v2' });

  // A copy into an empty store brings every image object, checked, before the release is listed.
  const copy = createLocalStore(path.join(repo.scratch, 'copy'));
  await copyRelease({ from: source, to: copy, app: APP, id: v1.id });
  assert.ok(await hasRelease(copy, APP, v1.id));
  const copied = await loadObjectIndex(copy, APP);
  for (const object of releaseImageObjects(v1.manifest)) assert.ok(copied.has(object.sha256), `${object.kind} ${object.sha256.slice(0, 12)} was copied`);

  // The stream of v2 to a store holding v1 carries v2's new config and top layer, not the shared base.
  const receiverIndex = await loadObjectIndex(copy, APP);
  const bytes = await collect((out) => writeReleaseStream({ store: source, app: APP, id: v2.id, out, skip: (digest) => receiverIndex.has(digest) }));
  const v2Image = v2.manifest.runtime.services[0]!.image!;
  const v1Image = v1.manifest.runtime.services[0]!.image!;
  const entries = await streamEntries(bytes);
  assert.ok(entries.includes(`objects/${v2Image.id.slice('sha256:'.length)}`), 'the new config travels');
  assert.ok(entries.includes(`objects/${v2Image.layers.at(-1)!.sha256}`), 'the new layer travels');
  for (const layer of v1Image.layers) assert.ok(!entries.includes(`objects/${layer.sha256}`), `layer ${layer.sha256.slice(0, 12)} is already there: not sent`);
  assert.ok(bytes.length < 256 * 1024, `the stream is ${bytes.length} bytes, not the whole image`);

  await receiveReleaseStream({ store: copy, app: APP, id: v2.id, input: Readable.from([bytes]) });
  assert.ok(await hasRelease(copy, APP, v2.id));
  const received = await loadObjectIndex(copy, APP);
  for (const object of releaseImageObjects(v2.manifest)) assert.ok(received.has(object.sha256), `${object.kind} ${object.sha256.slice(0, 12)} was received`);

  // A stream that leaves out an image object the receiver lacks is refused, and the receiver does not list the release.
  const empty = createLocalStore(path.join(repo.scratch, 'empty'));
  const partial = await collect((out) => writeReleaseStream({ store: source, app: APP, id: v2.id, out, skip: (digest) => digest === v2Image.layers.at(-1)!.sha256 }));
  await expectRejects(() => receiveReleaseStream({ store: empty, app: APP, id: v2.id, input: Readable.from([partial]) }), 'RELEASE_STREAM_INVALID', {
    message: new RegExp(`ended before content ${v2Image.layers.at(-1)!.sha256.slice(0, 12)} arrived`),
  });
  assert.equal(await hasRelease(empty, APP, v2.id), false);
  assert.equal(fs.existsSync(path.join(repo.scratch, 'empty', APP)), false, 'nothing was stored');
});
