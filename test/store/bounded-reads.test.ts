/**
 * Bounded, verify-first downloads against a real local store: an object past its reader's
 * limit is cut off and refused (a channel pointer past 64 KiB, a manifest past
 * MAX_MANIFEST_BYTES stored raw or as a gzip bomb, a huge signature.json), and a host
 * refuses such a release before any content is fetched, with nothing left behind.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { test, type TestContext } from 'node:test';
import { installRelease, isReleaseInstalled } from '../../src/host/install-release.js';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { openLedger } from '../../src/host/ledger.js';
import { releaseIdOf } from '../../src/release/manifest.js';
import { generateSigningKeyPair, signRelease } from '../../src/release/sign.js';
import { MAX_POINTER_BYTES, readChannel, readChannelIfChanged } from '../../src/store/channels.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, putRelease, readReleaseManifest, readReleaseSignature } from '../../src/store/releases.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { contentsOf, manifestOf } from '../helpers/manifests.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

const APP = 'notes';

/** A sparse file of `size` bytes (takes no room on the disk). */
function sparseFile(file: string, size: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, size);
}

/** A local store that counts every byte it hands out through get and getRange. */
function countingStore(root: string): { store: BlobStore; read: () => number } {
  const inner = createLocalStore(root);
  let bytes = 0;
  const store: BlobStore = {
    ...inner,
    get: async (key, options) => {
      const body = await inner.get(key, options);
      bytes += body?.length ?? 0;
      return body;
    },
    getRange: async (key, start, end) => {
      const body = await inner.getRange(key, start, end);
      bytes += body?.length ?? 0;
      return body;
    },
  };
  return { store, read: () => bytes };
}

test('the local store cuts a read off at maxBytes: STORE_OBJECT_TOO_LARGE past it, the whole object at it', async (t) => {
  const root = tempDir(t);
  const store = createLocalStore(root);
  await store.put('a/at-limit', Buffer.alloc(1000, 1));
  await store.put('a/past-limit', Buffer.alloc(1001, 1));
  assert.equal((await store.get('a/at-limit', { maxBytes: 1000 }))?.length, 1000);
  await expectRejects(store.get('a/past-limit', { maxBytes: 1000 }), 'STORE_OBJECT_TOO_LARGE', { message: /larger than 1000 bytes.*cut off/, hint: /./ });
  await expectRejects(store.getIfChanged!('a/past-limit', null, { maxBytes: 1000 }), 'STORE_OBJECT_TOO_LARGE');
  assert.equal(await store.get('a/missing', { maxBytes: 10 }), null);
  // a sparse file of 1 GiB is refused by its size, without reading it
  sparseFile(path.join(root, 'a', 'huge'), 1024 ** 3);
  await expectRejects(store.get('a/huge', { maxBytes: 1000 }), 'STORE_OBJECT_TOO_LARGE');
});

test('a channel pointer past 64 KiB in the store is refused (CHANNEL_CORRUPT) by every reader, not downloaded whole', async (t) => {
  const root = tempDir(t);
  const { store, read } = countingStore(root);
  const file = path.join(root, APP, 'channels', 'production.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `{"why":"${'x'.repeat(MAX_POINTER_BYTES)}"}`);
  await expectRejects(readChannel(store, APP, 'production'), 'CHANNEL_CORRUPT', /larger than 65536 bytes/);
  await expectRejects(readChannelIfChanged(store, APP, 'production', null), 'CHANNEL_CORRUPT', /larger than 65536 bytes/);
  assert.equal(read(), 0, 'nothing of the oversized pointer was handed out');
});

async function host(t: TestContext) {
  const root = tempDir(t);
  const layout = hostLayout(path.join(root, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  return { root, layout, ledger };
}

test('a manifest past MAX_MANIFEST_BYTES (stored raw, or gzipped to expand past it) is refused before any content is fetched', async (t) => {
  assert.equal(MAX_MANIFEST_BYTES, 256 * 1024 * 1024);
  const h = await host(t);
  const { store, read } = countingStore(path.join(h.root, 'store'));
  const raw = 'a'.repeat(64);
  const bomb = 'b'.repeat(64);
  // raw: a sparse file one byte past the limit
  sparseFile(path.join(h.root, 'store', APP, 'releases', raw, 'manifest.json'), MAX_MANIFEST_BYTES + 1);
  // a gzip bomb: 260 KB that expands past the limit
  await store.put(`${APP}/releases/${bomb}/manifest.json`, gzipSync(Buffer.alloc(MAX_MANIFEST_BYTES + 1024, 0x20), { level: 9 }));
  for (const id of [raw, bomb]) {
    await expectRejects(readReleaseManifest(store, APP, id), 'RELEASE_MANIFEST_TOO_LARGE', { message: /larger than 268435456 bytes/, hint: /./ });
    await expectRejects(installRelease({ layout: h.layout, ledger: h.ledger, store, app: APP, id, signatures: { required: false, publicKeysPem: [] } }), 'RELEASE_MANIFEST_TOO_LARGE');
    assert.equal(await isReleaseInstalled(h.layout, id), false);
  }
  assert.ok(read() < 1024 * 1024, `read ${read()} bytes for two refused manifests`);
  assert.deepEqual(fs.readdirSync(h.layout.releasesDir), []);
});

test('the signature is checked before any content is fetched; a huge signature.json is cut off and refused', async (t) => {
  const h = await host(t);
  const { store, read } = countingStore(path.join(h.root, 'store'));
  const files = { 'server.js': 'console.log(1);\n'.repeat(1000) };
  const manifest = manifestOf(APP, 'v1', files);
  const id = releaseIdOf(manifest);
  const trusted = generateSigningKeyPair();
  const stranger = generateSigningKeyPair();
  await putRelease(store, { app: APP, id, manifestBytes: Buffer.from(JSON.stringify(manifest)), signatureBytes: Buffer.from(JSON.stringify(signRelease({ app: APP, version: 'v1', id }, stranger.privateKeyPem))), content: contentsOf(files) });
  const policy = { required: true, publicKeysPem: [trusted.publicKeyPem] };
  const before = read();
  await expectRejects(installRelease({ layout: h.layout, ledger: h.ledger, store, app: APP, id, signatures: policy }), 'RELEASE_SIGNATURE_INVALID');
  const manifestAndSignature = read() - before;
  assert.ok(manifestAndSignature < 4096, `only the manifest and the signature are read before the refusal (read ${manifestAndSignature} bytes; the content alone is ${files['server.js'].length})`);
  assert.deepEqual(fs.readdirSync(h.layout.objectsDir).filter((n) => !n.startsWith('.')).flatMap((d) => fs.readdirSync(path.join(h.layout.objectsDir, d))), [], 'content fetched for a refused release');

  await store.put(`${APP}/releases/${id}/signature.json`, Buffer.alloc(MAX_SIGNATURE_BYTES + 1, 0x20));
  await expectRejects(readReleaseSignature(store, APP, id), 'STORE_OBJECT_TOO_LARGE');
  await expectRejects(installRelease({ layout: h.layout, ledger: h.ledger, store, app: APP, id, signatures: policy }), 'STORE_OBJECT_TOO_LARGE');
  assert.equal(await isReleaseInstalled(h.layout, id), false);
});
