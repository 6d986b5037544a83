/** The store's content objects: stored once, collected only when no kept release needs them, legacy archives moved over. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadProject } from '../../src/config/load.js';
import { buildRelease } from '../../src/release/build.js';
import { releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import { contentsOf, manifestOf as manifestOfFiles, sha256Of } from '../helpers/manifests.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { readObjects } from '../../src/store/read-objects.js';
import { hasLegacyArchive, listReleases, putRelease } from '../../src/store/releases.js';
import { migrateStoreToObjects, pruneStore } from '../../src/store/store-maintenance.js';
import { createNotesRepo } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const sha = sha256Of;
const manifestOf = (version: string, files: Record<string, string>) => manifestOfFiles('app', version, files);

async function publish(store: ReturnType<typeof createLocalStore>, version: string, files: Record<string, string>) {
  const manifest = manifestOf(version, files);
  const put = await putRelease(store, { app: 'app', id: releaseIdOf(manifest), manifestBytes: Buffer.from(JSON.stringify(manifest)), content: contentsOf(files) });
  await new Promise((resolve) => setTimeout(resolve, 5)); // distinct createdAt
  return { ...put, manifest };
}

async function readable(store: ReturnType<typeof createLocalStore>, manifest: ReleaseManifest): Promise<boolean> {
  try {
    await readObjects(store, 'app', manifest.files.map((f) => ({ sha256: f.sha256, size: f.size })), await loadObjectIndex(store, 'app'), () => undefined);
    return true;
  } catch {
    return false;
  }
}

test('a release that changes one file adds one content to the store; the same contents are never stored twice', async (t) => {
  const store = createLocalStore(tempDir(t, 'slipway-objects-'));
  const files: Record<string, string> = {};
  for (let i = 0; i < 200; i++) files[`lib/m${i}.js`] = `export const n = ${i};\n`.repeat(20);
  const v1 = await publish(store, 'v1', files);
  assert.equal(v1.addedObjects, 200);
  const v2 = await publish(store, 'v2', { ...files, 'lib/m3.js': 'changed\n' });
  assert.equal(v2.addedObjects, 1);
  assert.ok(v2.addedBytes < v1.addedBytes / 100, `a one-file change added ${v2.addedBytes} of ${v1.addedBytes} bytes`);
  const v3 = await publish(store, 'v3', files); // back to v1's contents
  assert.equal(v3.addedObjects, 0);
});

test('store prune keeps the newest releases and what channels point at; packs are collected only when no kept release needs them, and never young', async (t) => {
  const store = createLocalStore(tempDir(t, 'slipway-objects-'));
  const v1 = await publish(store, 'v1', { 'a.js': 'v1 only\n', 'shared.js': 'shared\n' });
  const v2 = await publish(store, 'v2', { 'a.js': 'v2 only\n', 'shared.js': 'shared\n' });
  const v3 = await publish(store, 'v3', { 'a.js': 'v3 only\n', 'shared.js': 'shared\n' });
  const v4 = await publish(store, 'v4', { 'a.js': 'v4 only\n', 'shared.js': 'shared\n' });

  // A dry run changes nothing.
  const dry = await pruneStore(store, 'app', { keep: 1, channelReleaseIds: new Set([v2.info.id]), dryRun: true, graceMs: 0 });
  assert.deepEqual(dry.removed.map((r) => r.version).sort(), ['v1', 'v3']);
  assert.equal((await listReleases(store, 'app')).length, 4);

  // Young packs stay whatever they hold: a publish under way has put its pack before its manifest.
  const young = await pruneStore(store, 'app', { keep: 1, channelReleaseIds: new Set([v2.info.id]) });
  assert.equal(young.objects.deletedPacks, 0);
  assert.deepEqual((await listReleases(store, 'app')).map((r) => r.version), ['v2', 'v4']);

  const old = await pruneStore(store, 'app', { keep: 1, channelReleaseIds: new Set([v2.info.id]), graceMs: 0 });
  // v1's pack holds "shared.js", which v2 and v4 need: it stays. v3's pack holds only its own content: it goes.
  assert.equal(old.objects.deletedPacks, 1);
  assert.ok(await readable(store, v2.manifest), 'a release a channel points at lost contents');
  assert.ok(await readable(store, v4.manifest), 'the newest release lost contents');
  assert.equal(await readable(store, v3.manifest), false);
  assert.ok(old.objects.unreferencedBytesKept > 0, "v1's own content stays inside a pack v2 and v4 still use");
  void v1;
});

test('store migrate moves releases stored as one archive to content objects, verified, and they still install the same contents', async (t) => {
  const dir = tempDir(t, 'slipway-migrate-');
  const repo = await createNotesRepo(path.join(dir, 'repo'));
  const project = await loadProject({ cwd: repo });
  const store = createLocalStore(path.join(dir, 'store'));
  const built = await buildRelease({ project, ref: 'v1', outDir: path.join(dir, 'build'), archive: true });
  const key = (f: string) => `${project.config.app}/releases/${built.id}/${f}`;
  await store.putFile(key('release.tar.gz'), built.archivePath!);
  await store.putFile(key('manifest.json'), built.manifestPath);
  await store.put(key('info.json'), JSON.stringify({ id: built.id, version: 'v1', commit: built.manifest.commit, createdAt: '2026-01-01T00:00:00.000Z', size: 1, signed: false }));

  const dry = await migrateStoreToObjects(store, project.config.app, { dryRun: true });
  assert.equal(dry.migrated.length, 1);
  assert.ok(await hasLegacyArchive(store, project.config.app, built.id));

  const moved = await migrateStoreToObjects(store, project.config.app);
  assert.deepEqual(moved.migrated.map((m) => m.version), ['v1']);
  assert.equal(await hasLegacyArchive(store, project.config.app, built.id), false);
  const index = await loadObjectIndex(store, project.config.app);
  for (const file of built.manifest.files) assert.ok(index.has(file.sha256), `${file.path} has no content object`);
  const info = (await listReleases(store, project.config.app))[0]!;
  assert.equal(info.createdAt, '2026-01-01T00:00:00.000Z', 'the release keeps its place in build order');

  const again = await migrateStoreToObjects(store, project.config.app);
  assert.equal(again.migrated.length, 0);
  assert.equal(again.alreadyObjects, 1);
  assert.ok(fs.existsSync(path.join(dir, 'store')));
});

test('a publish cut off mid-upload lists nothing, and publishing again completes it without storing its contents twice', async (t) => {
  const root = tempDir(t, 'slipway-objects-');
  const real = createLocalStore(root);
  const files = { 'a.js': 'a'.repeat(5000), 'b.js': 'b'.repeat(5000) };
  const manifest = manifestOf('v1', files);
  const put = (store: typeof real) => putRelease(store, { app: 'app', id: releaseIdOf(manifest), manifestBytes: Buffer.from(JSON.stringify(manifest)), content: contentsOf(files) });
  // The connection drops: once after the pack went up (before its index), once before the pack.
  for (const failOn of ['.idx', '.pack']) {
    const cut = { ...real, put: async (key: string, body: Buffer | string) => (key.endsWith(failOn) ? Promise.reject(new Error('connection reset')) : real.put(key, body)), putFile: async (key: string, file: string) => (key.endsWith(failOn) ? Promise.reject(new Error('connection reset')) : real.putFile(key, file)) };
    await assert.rejects(put(cut), /connection reset/);
    assert.deepEqual(await listReleases(real, 'app'), [], 'a release was listed after a publish cut short');
  }
  await put(real);
  assert.equal((await listReleases(real, 'app')).length, 1);
  assert.ok(await readable(real, manifest));
  const packs = (await real.list('app/objects/packs')).filter((k) => k.endsWith('.pack'));
  assert.equal(packs.length, 1, `the retried publish stored its contents again: ${packs.join(', ')}`);
});

test('an index loaded for a few contents parses only the packs that hold them, finds each where a full load does, and keeps its cache unzipped', async (t) => {
  const dir = tempDir(t, 'slipway-objects-');
  const store = createLocalStore(path.join(dir, 'store'));
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++) files[`lib/m${i}.js`] = `export const n = ${i};\n`;
  await publish(store, 'v1', files);
  const v2 = await publish(store, 'v2', { ...files, 'lib/m7.js': 'changed\n' });
  const changed = sha('changed\n');
  const full = await loadObjectIndex(store, 'app');
  const packs = fs.readdirSync(path.join(dir, 'store', 'app', 'objects', 'packs')).filter((n) => n.endsWith('.idx'));
  assert.equal(packs.length, 2);
  // A damaged index of a pack that does not hold the wanted content is never parsed.
  const otherPack = `${[...full.values()].find((l) => l.pack !== full.get(changed)!.pack)!.pack}.idx`;
  const cacheDir = path.join(dir, 'cache');
  const only = await loadObjectIndex(store, 'app', { cacheDir, only: [changed] });
  assert.deepEqual([...only.keys()], [changed]);
  assert.deepEqual(only.get(changed), full.get(changed));
  assert.ok(await readObjects(store, 'app', [{ sha256: changed, size: 8 }], only, () => undefined).then(() => true));
  // The cache holds each index read, as JSON.
  for (const name of fs.readdirSync(cacheDir)) assert.match(name, /^[0-9a-f]{64}\.idx\.json$/);
  fs.writeFileSync(path.join(dir, 'store', 'app', 'objects', 'packs', otherPack), gzipSync('{"format":1,"objects":[["not an entry"]]}'));
  fs.rmSync(cacheDir, { recursive: true });
  assert.deepEqual([...(await loadObjectIndex(store, 'app', { only: [changed] })).keys()], [changed]);
  // A full load still reads (and refuses) every index.
  await assert.rejects(loadObjectIndex(store, 'app'), /STORE_INDEX_INVALID|damaged/);
  // A digest in no pack: the indexes passed over are parsed after all, and the damaged one is named.
  await assert.rejects(loadObjectIndex(store, 'app', { only: [sha('nowhere')] }), (error: Error) => error.message.includes(otherPack));
  assert.ok(v2.manifest.files.some((f) => f.sha256 === changed));
});
