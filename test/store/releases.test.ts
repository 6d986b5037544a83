import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { isSlipwayError } from '../../src/errors.js';
import { releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { fetchRelease, listReleases, putRelease, readReleaseManifest, resolveRelease, type ReleaseInfo } from '../../src/store/releases.js';
import { tempDir } from '../helpers/cli.js';

const code = (expected: string) => (error: unknown) => isSlipwayError(error) && error.code === expected;

function manifestOf(version: string, commitSeed: string, content = `hello ${version}\n`): ReleaseManifest {
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
  /** writes a manifest and an archive for `manifest` and puts them in the store */
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
      const out = path.join(dir, `build-${n++}`);
      fs.mkdirSync(out);
      const id = releaseIdOf(manifest);
      fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2));
      fs.writeFileSync(path.join(out, 'release.tar.gz'), `archive of ${manifest.version}`);
      if (options.signed) fs.writeFileSync(path.join(out, 'signature.json'), '{}');
      const info = await putRelease(store, {
        app: manifest.app,
        id,
        manifestPath: path.join(out, 'manifest.json'),
        archivePath: path.join(out, 'release.tar.gz'),
        signaturePath: options.signed ? path.join(out, 'signature.json') : undefined,
      });
      return { ...info, manifest };
    },
  };
}

test('putRelease stores the archive, manifest and info; listReleases returns them oldest first', async (t) => {
  const f = fixture(t);
  const v1 = await f.publish(manifestOf('v1', 'a'));
  const v2 = await f.publish(manifestOf('v2', 'b'), { signed: true });
  assert.equal(v1.version, 'v1');
  assert.equal(v1.commit, v1.manifest.commit);
  assert.equal(v1.size, Buffer.byteLength('archive of v1'));
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
  assert.deepEqual(await f.store.list(`notes/releases/${v2.id}`), ['info.json', 'manifest.json', 'release.tar.gz', 'signature.json'].map((file) => `notes/releases/${v2.id}/${file}`));
  assert.deepEqual(await listReleases(f.store, 'another-app'), []);
});

test('putRelease refuses a manifest that does not match the id it is published under', async (t) => {
  const f = fixture(t);
  const manifest = manifestOf('v1', 'a');
  const manifestPath = path.join(f.dir, 'manifest.json');
  fs.writeFileSync(manifestPath, JSON.stringify(manifest));
  fs.writeFileSync(path.join(f.dir, 'a.tgz'), 'x');
  const wrongId = releaseIdOf(manifestOf('v2', 'b'));
  await assert.rejects(putRelease(f.store, { app: 'notes', id: wrongId, manifestPath, archivePath: path.join(f.dir, 'a.tgz') }), code('RELEASE_MANIFEST_TAMPERED'));
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
  await f.store.put(`notes/releases/${'f'.repeat(64)}/release.tar.gz`, 'partial');
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
  await assert.rejects(resolveRelease(f.store, 'notes', v2.id.slice(0, 6)), code('RELEASE_NOT_FOUND'));

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
  await assert.rejects(resolveRelease(f.store, 'notes', 'abcdef1'), (error: unknown) => {
    assert.ok(isSlipwayError(error));
    assert.equal(error.code, 'RELEASE_AMBIGUOUS');
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /matches 2 releases/);
    return true;
  });
  assert.equal((await resolveRelease(f.store, 'notes', 'abcdef10')).id, ids[0]);
});

test('an unknown version is a usage error whose hint lists the known versions', async (t) => {
  const f = fixture(t);
  await assert.rejects(resolveRelease(f.store, 'notes', 'v1'), (error: unknown) => {
    assert.ok(isSlipwayError(error) && error.code === 'RELEASE_NOT_FOUND');
    assert.match(error.hint ?? '', /slipway build/);
    return true;
  });
  await f.publish(manifestOf('v1', 'a'));
  await f.publish(manifestOf('v2', 'b'));
  await assert.rejects(resolveRelease(f.store, 'notes', 'v3'), (error: unknown) => {
    assert.ok(isSlipwayError(error));
    assert.equal(error.code, 'RELEASE_NOT_FOUND');
    assert.equal(error.exitCode, 2);
    assert.equal(error.hint, 'known versions: v1, v2');
    return true;
  });
});

test('readReleaseManifest and fetchRelease verify the manifest against the id and want the archive', async (t) => {
  const f = fixture(t);
  const v1 = await f.publish(manifestOf('v1', 'a'));
  assert.deepEqual(await readReleaseManifest(f.store, 'notes', v1.id), v1.manifest);

  const fetched = await fetchRelease(f.store, 'notes', v1.id, path.join(f.dir, 'fetch'));
  assert.equal(fs.readFileSync(fetched.archivePath, 'utf8'), 'archive of v1');
  assert.equal(fetched.signature, null);

  await assert.rejects(readReleaseManifest(f.store, 'notes', 'e'.repeat(64)), code('RELEASE_NOT_FOUND'));

  const manifestKey = `notes/releases/${v1.id}/manifest.json`;
  const text = (await f.store.get(manifestKey))!.toString();
  await f.store.put(manifestKey, text.replace('release v1', 'release v1!'));
  await assert.rejects(readReleaseManifest(f.store, 'notes', v1.id), code('RELEASE_MANIFEST_TAMPERED'));
  await f.store.put(manifestKey, text);

  await f.store.delete(`notes/releases/${v1.id}/release.tar.gz`);
  await assert.rejects(fetchRelease(f.store, 'notes', v1.id, path.join(f.dir, 'fetch2')), code('RELEASE_INCOMPLETE'));
});
