import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { listReleases, putRelease, readReleaseManifest, readReleaseSignature, resolveRelease, type ReleaseInfo } from '../../src/store/releases.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { readObjects } from '../../src/store/read-objects.js';
import { tempDir } from '../helpers/temp-dir.js';
import { expectRejects } from '../helpers/expect-error.js';

/** every content a test manifest names, by digest: what the store is given when the release is put */
const contents = new Map<string, Buffer>();

function manifestOf(version: string, commitSeed: string, content = `hello ${version}\n`): ReleaseManifest {
  contents.set(createHash('sha256').update(content).digest('hex'), Buffer.from(content));
  return {
    schema: 1,
    app: 'notes',
    version,
    commit: createHash('sha1').update(commitSeed).digest('hex'),
    message: `release ${version}`,
    date: '2025-01-01T12:00:00.000Z',
    dirty: false,
    notes: '',
    requiredConfig: [],
    migrates: false,
    runtime: { services: [], data: { databases: [], folders: [] }, migrate: null, hooks: [], config: [] },
    files: [{ path: 'a.txt', sha256: createHash('sha256').update(content).digest('hex'), mode: 0o644, size: Buffer.byteLength(content) }],
  };
}

interface Fixture {
  dir: string;
  store: BlobStore;
  /** puts `manifest` and its one file's content into the store */
  publish(manifest: ReleaseManifest, options?: { signed?: boolean }): Promise<ReleaseInfo & { manifest: ReleaseManifest }>;
}

function fixture(t: TestContext): Fixture {
  const dir = tempDir(t, 'slipway-store-');
  const store = createLocalStore(path.join(dir, 'store'));
  let n = 0;
  return {
    dir,
    store,
    async publish(manifest, options = {}) {
      n += 1;
      const id = releaseIdOf(manifest);
      const { info } = await putRelease(store, {
        app: manifest.app,
        id,
        manifestBytes: Buffer.from(JSON.stringify(manifest, null, 2)),
        signatureBytes: options.signed ? Buffer.from('{}') : null,
        content: { read: async (digest) => contents.get(digest)! },
      });
      return { ...info, manifest };
    },
  };
}

test('putRelease stores the contents, manifest and info; listReleases returns them oldest first', async (t) => {
  const f = fixture(t);
  const v1 = await f.publish(manifestOf('v1', 'a'));
  const v2 = await f.publish(manifestOf('v2', 'b'), { signed: true });
  assert.equal(v1.version, 'v1');
  assert.equal(v1.commit, v1.manifest.commit);
  assert.equal(v1.size, Buffer.byteLength('hello v1\n'), 'a content this small is stored as it is');
  assert.equal(v1.signed, false);
  assert.equal(v2.signed, true);
  assert.ok(!Number.isNaN(Date.parse(v1.createdAt)));

  const listed = await listReleases(f.store, 'notes');
  assert.deepEqual(
    listed.map((r) => [r.version, r.id, r.signed]),
    [
      ['v1', v1.id, false],
      ['v2', v2.id, true],
    ],
  );
  assert.deepEqual(await f.store.list(`notes/releases/${v2.id}`), ['info.json', 'manifest.json', 'signature.json'].map((file) => `notes/releases/${v2.id}/${file}`));
  assert.equal((await f.store.list('notes/objects/packs')).length, 4, 'a pack and its index per publish');
  assert.deepEqual(await listReleases(f.store, 'another-app'), []);
});

test('putRelease refuses a manifest that does not match the id it is published under', async (t) => {
  const f = fixture(t);
  const manifest = manifestOf('v1', 'a');
  const wrongId = releaseIdOf(manifestOf('v2', 'b'));
  const content = { read: async () => Buffer.from('hello v1\n') };
  await expectRejects(putRelease(f.store, { app: 'notes', id: wrongId, manifestBytes: Buffer.from(JSON.stringify(manifest)), content }), 'RELEASE_MANIFEST_TAMPERED');
  assert.deepEqual(await f.store.list(''), []);
});

test('publishing the same release again keeps its createdAt and its signature', async (t) => {
  const f = fixture(t);
  const first = await f.publish(manifestOf('v1', 'a'), { signed: true });
  await new Promise((resolve) => setTimeout(resolve, 5));
  const again = await f.publish(manifestOf('v1', 'a'));
  assert.equal(again.id, first.id);
  assert.equal(again.createdAt, first.createdAt);
  assert.equal(again.signed, true);
  assert.equal((await listReleases(f.store, 'notes')).length, 1);
});

test('a release without info.json (a publish cut short) is not listed', async (t) => {
  const f = fixture(t);
  const v1 = await f.publish(manifestOf('v1', 'a'));
  await f.store.put(`notes/releases/${'f'.repeat(64)}/manifest.json`, 'partial');
  assert.deepEqual(
    (await listReleases(f.store, 'notes')).map((r) => r.id),
    [v1.id],
  );
});

test('resolveRelease finds a release by version, full id and id prefix; the newest wins a shared version', async (t) => {
  const f = fixture(t);
  const v1 = await f.publish(manifestOf('v1', 'a'));
  const v2 = await f.publish(manifestOf('v2', 'b'));
  assert.equal((await resolveRelease(f.store, 'notes', 'v1')).id, v1.id);
  assert.equal((await resolveRelease(f.store, 'notes', v2.id)).id, v2.id);
  assert.equal((await resolveRelease(f.store, 'notes', v2.id.slice(0, 7))).id, v2.id);
  // six characters are too few to be an id prefix
  await expectRejects(resolveRelease(f.store, 'notes', v2.id.slice(0, 6)), 'RELEASE_NOT_FOUND');

  await new Promise((resolve) => setTimeout(resolve, 5));
  const rebuilt = await f.publish(manifestOf('v1', 'a', 'hello again\n'));
  assert.notEqual(rebuilt.id, v1.id);
  assert.equal((await resolveRelease(f.store, 'notes', 'v1')).id, rebuilt.id);
});

test('an id prefix shared by two releases is ambiguous (exit 2)', async (t) => {
  const f = fixture(t);
  // Two real ids sharing 7 characters would take ~2^28 tries: write their info records directly.
  const ids = [`abcdef1${'0'.repeat(57)}`, `abcdef1${'1'.repeat(57)}`];
  for (const [i, id] of ids.entries()) {
    const info: ReleaseInfo = { id, version: `v${i + 1}`, commit: 'c'.repeat(40), createdAt: `2025-01-0${i + 1}T00:00:00.000Z`, size: 1, signed: false };
    await f.store.put(`notes/releases/${id}/info.json`, JSON.stringify(info));
  }
  await expectRejects(resolveRelease(f.store, 'notes', 'abcdef1'), 'RELEASE_AMBIGUOUS', { exitCode: 2, message: /matches 2 releases/ });
  assert.equal((await resolveRelease(f.store, 'notes', 'abcdef10')).id, ids[0]);
});

test('an unknown version is a usage error whose hint lists the known versions', async (t) => {
  const f = fixture(t);
  await expectRejects(resolveRelease(f.store, 'notes', 'v1'), 'RELEASE_NOT_FOUND', { hint: /slipway build/ });
  await f.publish(manifestOf('v1', 'a'));
  await f.publish(manifestOf('v2', 'b'));
  const unknown = await expectRejects(resolveRelease(f.store, 'notes', 'v3'), 'RELEASE_NOT_FOUND', { exitCode: 2 });
  assert.equal(unknown.hint, 'known versions: v1, v2');
});

test('readReleaseManifest verifies the manifest against the id; each content is read back checked, once per digest', async (t) => {
  const f = fixture(t);
  const v1 = await f.publish(manifestOf('v1', 'a'));
  assert.deepEqual(await readReleaseManifest(f.store, 'notes', v1.id), v1.manifest);
  assert.equal(await readReleaseSignature(f.store, 'notes', v1.id), null);
  const read: string[] = [];
  const file = v1.manifest.files[0]!;
  await readObjects(f.store, 'notes', [{ sha256: file.sha256, size: file.size }], await loadObjectIndex(f.store, 'notes'), (_digest, content) => {
    read.push(content.toString());
  });
  assert.deepEqual(read, ['hello v1\n']);

  // The same content in another release is not stored again.
  const before = await f.store.list('notes/objects/packs');
  await f.publish({ ...manifestOf('v1-again', 'c'), files: v1.manifest.files });
  assert.deepEqual(await f.store.list('notes/objects/packs'), before);

  await expectRejects(readReleaseManifest(f.store, 'notes', 'e'.repeat(64)), 'RELEASE_NOT_FOUND');
  const manifestKey = `notes/releases/${v1.id}/manifest.json`;
  const text = gunzipSync((await f.store.get(manifestKey))!).toString(); // stored gzipped
  await f.store.put(manifestKey, text.replace('release v1', 'release v1!'));
  await expectRejects(readReleaseManifest(f.store, 'notes', v1.id), 'RELEASE_MANIFEST_TAMPERED');
});

test('putRelease refuses a source whose content does not match the manifest (a file changed during the build)', async (t) => {
  const f = fixture(t);
  const manifest = manifestOf('v1', 'a');
  const content = { read: async () => Buffer.from('changed\n') };
  await expectRejects(putRelease(f.store, { app: 'notes', id: releaseIdOf(manifest), manifestBytes: Buffer.from(JSON.stringify(manifest)), content }), 'RELEASE_SOURCE_CHANGED');
  assert.deepEqual(await listReleases(f.store, 'notes'), []);
});
