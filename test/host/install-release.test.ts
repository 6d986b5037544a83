/**
 * installRelease with a real local store holding real releases of the notes example:
 * what a good install leaves on the host, and that every refusal (signature policy,
 * tampering in the store) happens before anything changes on the host.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test, type TestContext } from 'node:test';
import { loadProject } from '../../src/config/load.js';
import { installRelease, isReleaseInstalled, readInstalledManifest, removeInstalledRelease, type InstallResult, type SignaturePolicy } from '../../src/host/install-release.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { buildRelease } from '../../src/release/build.js';
import { parseManifest, releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import { generateSigningKeyPair, signRelease, type SigningKeyPair } from '../../src/release/sign.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { putRelease } from '../../src/store/releases.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createNotesRepo, listTree } from '../helpers/cli.js';
import { expectRejects } from '../helpers/expect-error.js';
import { removeTree, tempDir } from '../helpers/temp-dir.js';

const APP = 'notes';
const scratch = tempDir({ after }, 'slipway-install-');
// Downloads go to os.tmpdir(): point it at a folder of ours, so a leftover download shows.
const fetchTmp = path.join(scratch, 'tmp');
fs.mkdirSync(fetchTmp);
const originalTmp = process.env.TMPDIR;
process.env.TMPDIR = fetchTmp;
after(() => {
  if (originalTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = originalTmp;
});

const trustedKey: SigningKeyPair = generateSigningKeyPair();
const otherKey: SigningKeyPair = generateSigningKeyPair();
/** pristine stores, copied for each test: v1 unsigned; v1 signed by the trusted key; v1 signed by another key */
const stores = {
  unsigned: path.join(scratch, 'store-unsigned'),
  trusted: path.join(scratch, 'store-trusted'),
  other: path.join(scratch, 'store-other'),
  legacy: path.join(scratch, 'store-legacy'),
};
let releaseId: string;
let manifest: ReleaseManifest;

before(async () => {
  const repo = await createNotesRepo(path.join(scratch, 'repo'));
  const project = await loadProject({ cwd: repo });
  const outDir = path.join(scratch, 'build');
  const built = await buildRelease({ project, ref: 'v1', outDir, archive: true });
  releaseId = built.id;
  manifest = built.manifest;
  for (const [name, key] of [['unsigned', null], ['trusted', trustedKey], ['other', otherKey]] as const) {
    const signatureBytes = key ? Buffer.from(JSON.stringify(signRelease({ app: APP, version: built.manifest.version, id: built.id }, key.privateKeyPem))) : null;
    await putRelease(createLocalStore(stores[name]), { app: APP, id: built.id, manifestBytes: fs.readFileSync(built.manifestPath), signatureBytes, content: built.content });
  }
  // A store as releases were kept before content objects: one archive per release.
  const legacy = createLocalStore(stores.legacy);
  await legacy.putFile(`${APP}/releases/${built.id}/release.tar.gz`, built.archivePath!);
  await legacy.putFile(`${APP}/releases/${built.id}/manifest.json`, built.manifestPath);
  await legacy.put(`${APP}/releases/${built.id}/info.json`, JSON.stringify({ id: built.id, version: 'v1', commit: built.manifest.commit, createdAt: new Date().toISOString(), size: 1, signed: false }));
});

interface Host {
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  storeDir: string;
  install(signatures?: SignaturePolicy): Promise<ReleaseManifest>;
  installResult(signatures?: SignaturePolicy): Promise<InstallResult>;
}

/** A fresh host and a private copy of one of the pristine stores. */
async function host(t: TestContext, storeName: keyof typeof stores): Promise<Host> {
  const root = fs.mkdtempSync(path.join(scratch, 'host-'));
  t.after(() => removeTree(root));
  const storeDir = path.join(root, 'store');
  fs.cpSync(stores[storeName], storeDir, { recursive: true });
  const layout = hostLayout(path.join(root, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  const store = createLocalStore(storeDir);
  return {
    layout,
    ledger,
    store,
    storeDir,
    install: async (signatures = { required: false, publicKeysPem: [] }) => (await installRelease({ layout, ledger, store, app: APP, id: releaseId, signatures })).manifest,
    installResult: (signatures = { required: false, publicKeysPem: [] }) => installRelease({ layout, ledger, store, app: APP, id: releaseId, signatures }),
  };
}

const requireTrusted: () => SignaturePolicy = () => ({ required: true, publicKeysPem: [trustedKey.publicKeyPem] });

/** Nothing of the release on the host: no folder, no manifest, no ledger record, no download left. */
async function assertNothingInstalled(h: Host): Promise<void> {
  assert.deepEqual(listTree(h.layout.releasesDir), [], 'the releases folder is not empty');
  assert.ok(!fs.existsSync(path.join(h.layout.releasesDir, releaseId)));
  assert.deepEqual(listTree(h.layout.manifestsDir), []);
  assert.equal(h.ledger.getRelease(releaseId), null);
  assert.equal(await isReleaseInstalled(h.layout, releaseId), false);
  assert.deepEqual(listTree(h.layout.sharedDir), [], 'shared folders were created for a refused release');
  assert.deepEqual(listTree(h.layout.objectsDir).filter((p) => !p.endsWith('/')), [], 'objects of a refused release were left on the host');
  assert.deepEqual(listTree(fetchTmp), [], 'a download was left in the temp folder');
}

test('installs into releases/<id>/, read-only, with manifests/<id>.json and a ledger record', async (t) => {
  const h = await host(t, 'unsigned');
  const installed = await h.install();
  assert.deepEqual(installed, manifest);

  const dir = path.join(h.layout.releasesDir, releaseId);
  for (const file of manifest.files) {
    const full = path.join(dir, file.path);
    const stat = fs.statSync(full);
    assert.equal(stat.size, file.size, file.path);
    assert.equal(stat.mode & 0o222, 0, `${file.path} is writable (mode ${(stat.mode & 0o777).toString(8)})`);
    assert.equal(stat.mode & 0o100, file.mode & 0o100, `${file.path}: exec bit differs from the manifest`);
  }
  assert.deepEqual(parseManifest(fs.readFileSync(path.join(h.layout.manifestsDir, `${releaseId}.json`)), releaseId), manifest);
  const record = h.ledger.getRelease(releaseId);
  assert.equal(record?.version, 'v1');
  assert.equal(record?.commit, manifest.commit);
  assert.equal(await isReleaseInstalled(h.layout, releaseId), true);
  assert.deepEqual(fs.readdirSync(h.layout.releasesDir), [releaseId], 'something beside the release folder in releases/');
  assert.deepEqual(listTree(fetchTmp), [], 'the download was left in the temp folder');

  // installing again is a no-op that returns the same manifest
  assert.deepEqual(await h.install(), manifest);
});

test('an installed manifest held in memory is used only while its file is the one read: a changed file is read and checked again, a removed one is gone', async (t) => {
  const h = await host(t, 'unsigned');
  const installed = await h.install();
  const file = path.join(h.layout.manifestsDir, `${releaseId}.json`);
  // Held while this test keeps `installed`: the same object comes back, its file unchanged.
  assert.equal(await readInstalledManifest(h.layout, releaseId), installed);
  const bytes = fs.readFileSync(file);
  // A changed byte (same size) in a new file: read again, and refused as tampered.
  const changed = Buffer.from(bytes);
  const at = changed.indexOf('"version":"v1"') + '"version":"v'.length;
  changed[at] = '9'.charCodeAt(0);
  fs.writeFileSync(`${file}.new`, changed);
  fs.renameSync(`${file}.new`, file);
  await expectRejects(readInstalledManifest(h.layout, releaseId), 'RELEASE_MANIFEST_TAMPERED');
  // Its own bytes back: read and checked again, a new object equal to the first.
  fs.writeFileSync(file, bytes);
  const again = await readInstalledManifest(h.layout, releaseId);
  assert.notEqual(again, installed);
  assert.deepEqual(again, installed);
  fs.rmSync(file);
  assert.equal(await readInstalledManifest(h.layout, releaseId), null);
});

test('the release folder itself is read-only too, so nothing can be added beside the released files', async (t) => {
  const h = await host(t, 'unsigned');
  await h.install();
  assert.equal(fs.statSync(path.join(h.layout.releasesDir, releaseId)).mode & 0o777, 0o555);
});

test('shared paths (data, uploads) are links into shared/, where data written through them lives', async (t) => {
  const h = await host(t, 'unsigned');
  await h.install();
  const dir = path.join(h.layout.releasesDir, releaseId);
  for (const name of ['data', 'uploads']) {
    const link = path.join(dir, name);
    assert.ok(fs.lstatSync(link).isSymbolicLink(), `${name} is not a symlink`);
    assert.equal(fs.readlinkSync(link), path.join(h.layout.sharedDir, name));
    assert.ok(fs.statSync(link).isDirectory());
  }
  // the release folder is read-only, but its shared folders are writable
  fs.writeFileSync(path.join(dir, 'uploads', 'photo.txt'), 'x');
  assert.equal(fs.readFileSync(path.join(h.layout.sharedDir, 'uploads', 'photo.txt'), 'utf8'), 'x');
});

test('signature required and trusted: installs', async (t) => {
  const h = await host(t, 'trusted');
  await h.install(requireTrusted());
  assert.equal(await isReleaseInstalled(h.layout, releaseId), true);
});

test('signature required, release unsigned: RELEASE_UNSIGNED and nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  await expectRejects(h.install(requireTrusted()), 'RELEASE_UNSIGNED', { hint: /./ });
  await assertNothingInstalled(h);
});

test('signature required, signed by a key the host does not trust: RELEASE_SIGNATURE_INVALID and nothing on the host', async (t) => {
  const h = await host(t, 'other');
  await expectRejects(h.install(requireTrusted()), 'RELEASE_SIGNATURE_INVALID', { hint: /./ });
  await assertNothingInstalled(h);
});

test('a signature that does not verify (trusted key id, forged bytes): RELEASE_SIGNATURE_INVALID', async (t) => {
  const h = await host(t, 'trusted');
  const key = `${APP}/releases/${releaseId}/signature.json`;
  const signature = JSON.parse((await h.store.get(key))!.toString()) as { signature: string };
  const forged = signRelease({ app: APP, version: manifest.version, id: '0'.repeat(64) }, trustedKey.privateKeyPem).signature;
  await h.store.put(key, JSON.stringify({ ...signature, signature: forged }));
  await expectRejects(h.install(requireTrusted()), 'RELEASE_SIGNATURE_INVALID', { hint: /./ });
  await assertNothingInstalled(h);
});

test('a signature over another version of the same release: RELEASE_SIGNATURE_INVALID, nothing on the host', async (t) => {
  const h = await host(t, 'trusted');
  const key = `${APP}/releases/${releaseId}/signature.json`;
  await h.store.put(key, JSON.stringify(signRelease({ app: APP, version: 'v9', id: releaseId }, trustedKey.privateKeyPem)));
  await expectRejects(h.install(requireTrusted()), 'RELEASE_SIGNATURE_INVALID', { hint: /another app, version or release/ });
  await assertNothingInstalled(h);
});

test('a release of another app, signed by the trusted key, put under this app in the store: RELEASE_WRONG_APP, nothing on the host', async (t) => {
  const h = await host(t, 'trusted');
  // billing's release: same files, its own manifest (so its own id), a good signature by a key notes trusts
  const foreign: ReleaseManifest = { ...manifest, app: 'billing' };
  const foreignId = releaseIdOf(foreign);
  const dir = `${APP}/releases/${foreignId}`;
  await h.store.put(`${dir}/manifest.json`, gzipSync(Buffer.from(JSON.stringify(foreign))));
  await h.store.put(`${dir}/signature.json`, JSON.stringify(signRelease({ app: 'billing', version: foreign.version, id: foreignId }, trustedKey.privateKeyPem)));
  await h.store.put(`${dir}/info.json`, JSON.stringify({ id: foreignId, version: foreign.version, commit: foreign.commit, createdAt: new Date().toISOString(), size: 1, signed: true }));
  for (const signatures of [requireTrusted(), { required: false, publicKeysPem: [] }]) {
    await expectRejects(installRelease({ layout: h.layout, ledger: h.ledger, store: h.store, app: APP, id: foreignId, signatures }), 'RELEASE_WRONG_APP', {
      exitCode: 1,
      message: /"billing", not of "notes".*nothing was changed/,
      hint: /./,
    });
    await assertNothingInstalled(h);
    assert.equal(h.ledger.getRelease(foreignId), null);
  }
});

test('the store refuses to take a release of another app under this app\'s name (publish, release receive): RELEASE_WRONG_APP', async (t) => {
  const h = await host(t, 'unsigned');
  const foreign: ReleaseManifest = { ...manifest, app: 'billing' };
  const foreignId = releaseIdOf(foreign);
  const before = listTree(h.storeDir);
  await expectRejects(
    putRelease(h.store, { app: APP, id: foreignId, manifestBytes: Buffer.from(JSON.stringify(foreign)), content: { read: () => Promise.reject(new Error('no content may be read')) } }),
    'RELEASE_WRONG_APP',
  );
  assert.deepEqual(listTree(h.storeDir), before, 'the store changed');
});

/** The one pack of the store (a release published once), its index parsed. */
function storePack(h: Host): { packFile: string; indexFile: string; index: { format: 1; createdAt: string; objects: Array<[string, number, number, number, number]> } } {
  const dir = path.join(h.storeDir, APP, 'objects', 'packs');
  const [indexName] = fs.readdirSync(dir).filter((n) => n.endsWith('.idx'));
  assert.ok(indexName, 'no pack index in the store');
  const indexFile = path.join(dir, indexName);
  return { packFile: indexFile.replace(/\.idx$/, '.pack'), indexFile, index: JSON.parse(gunzipSync(fs.readFileSync(indexFile)).toString('utf8')) };
}

test('a changed byte in each stored content: refused, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  const { packFile, index } = storePack(h);
  const pristine = fs.readFileSync(packFile);
  // Every content of the release, one at a time: whether stored raw or deflated, one byte changed is refused.
  for (const [digest, offset, length] of index.objects) {
    const bytes = Buffer.from(pristine);
    const at = offset + Math.floor(length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    fs.writeFileSync(packFile, bytes);
    await expectRejects(h.install(), 'RELEASE_ARCHIVE_REJECTED', { context: digest.slice(0, 12) });
    await assertNothingInstalled(h);
  }
});

test('a content replaced in a well-formed pack (index rewritten to match): refused by the manifest digests', async (t) => {
  const h = await host(t, 'unsigned');
  const { packFile, indexFile, index } = storePack(h);
  const entry = index.objects.find((o) => o[3] > 0)!;
  const forged = Buffer.alloc(entry[3], 'A'); // same size, other content, stored raw
  const pack = fs.readFileSync(packFile);
  fs.writeFileSync(packFile, Buffer.concat([pack, forged]));
  entry[1] = pack.length;
  entry[2] = forged.length;
  entry[4] = 0;
  fs.writeFileSync(indexFile, gzipSync(JSON.stringify(index)));
  await expectRejects(h.install(), 'RELEASE_ARCHIVE_REJECTED', /digest/);
  await assertNothingInstalled(h);
});

test('an index that points past the end of its pack, or that is not an index: refused, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  const { indexFile, index } = storePack(h);
  index.objects[0]![1] = 10 ** 9; // plausible, but past the end of this pack
  fs.writeFileSync(indexFile, gzipSync(JSON.stringify(index)));
  await expectRejects(h.install(), 'STORE_RANGE_INVALID', { hint: /./ });
  await assertNothingInstalled(h);
  fs.rmSync(h.layout.cacheDir, { recursive: true, force: true }); // the host keeps copies of indexes it has read
  fs.writeFileSync(indexFile, gzipSync(JSON.stringify({ format: 1, objects: [['../../etc', 0, 1, 1, 0]] })));
  await expectRejects(h.install(), 'STORE_INDEX_INVALID', { hint: /./ });
  await assertNothingInstalled(h);
});

test('a release stored as one archive (before content objects) installs the same', async (t) => {
  const h = await host(t, 'legacy');
  assert.deepEqual(await h.install(), manifest);
  assert.equal(await isReleaseInstalled(h.layout, releaseId), true);
});

test('the second install of a release whose contents the host has fetches nothing: its files are hard links to the same objects', async (t) => {
  const h = await host(t, 'unsigned');
  const first = await h.installResult();
  assert.equal(first.reusedFiles, 0);
  assert.ok(first.fetchedObjects > 0);
  // Remove the release (as prune does), keep the objects: a reinstall links them again.
  await removeInstalledRelease(h.layout, h.ledger, releaseId);
  const again = await h.installResult();
  assert.equal(again.fetchedObjects, 0);
  assert.equal(again.reusedFiles, manifest.files.length);
  const file = manifest.files[0]!;
  const inRelease = fs.statSync(path.join(h.layout.releasesDir, releaseId, file.path));
  assert.ok(inRelease.nlink >= 2, 'the file is not a hard link to an object');
});

test('a changed byte in manifest.json in the store: RELEASE_MANIFEST_TAMPERED, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  const file = path.join(h.storeDir, APP, 'releases', releaseId, 'manifest.json');
  const text = gunzipSync(fs.readFileSync(file)).toString('utf8'); // stored gzipped
  // a file's size, one digit changed: still valid JSON and a valid manifest, but not the one the id names
  const changed = text.replace(/"size": ?(\d)/, (_m, d: string) => `"size": ${(Number(d) + 1) % 10}`);
  assert.notEqual(changed, text);
  // gzipped again, and as plain JSON (what slipway before 0.2 stored): refused either way
  for (const bytes of [gzipSync(changed), Buffer.from(changed)]) {
    fs.writeFileSync(file, bytes);
    await expectRejects(h.install(), 'RELEASE_MANIFEST_TAMPERED', { hint: /./ });
    await assertNothingInstalled(h);
  }
});

test('a missing pack in the store: RELEASE_INCOMPLETE, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  fs.rmSync(storePack(h).packFile);
  await expectRejects(h.install(), 'RELEASE_INCOMPLETE', { hint: /./ });
  await assertNothingInstalled(h);
});

test('a release missing from the store: RELEASE_NOT_FOUND, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  fs.rmSync(path.join(h.storeDir, APP), { recursive: true });
  await expectRejects(h.install(), 'RELEASE_NOT_FOUND', { hint: /./ });
  await assertNothingInstalled(h);
});

test('the temp folder override is in effect (so the leftover checks above mean something)', () => {
  assert.equal(os.tmpdir(), fetchTmp);
});

function unchangedWhenUnzipped(bytes: Buffer, plain: Buffer): boolean {
  try {
    return gunzipSync(bytes).equals(plain);
  } catch {
    return false;
  }
}
