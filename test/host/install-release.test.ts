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
import { isSlipwayError } from '../../src/errors.js';
import { installRelease, isReleaseInstalled, type SignaturePolicy } from '../../src/host/install-release.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { buildRelease } from '../../src/release/build.js';
import { parseManifest, type ReleaseManifest } from '../../src/release/manifest.js';
import { generateSigningKeyPair, signRelease, type SigningKeyPair } from '../../src/release/sign.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { putRelease } from '../../src/store/releases.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createNotesRepo, listTree, removeTree, tempDir } from '../helpers/cli.js';

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
const stores = { unsigned: path.join(scratch, 'store-unsigned'), trusted: path.join(scratch, 'store-trusted'), other: path.join(scratch, 'store-other') };
let releaseId: string;
let manifest: ReleaseManifest;

before(async () => {
  const repo = await createNotesRepo(path.join(scratch, 'repo'));
  const project = await loadProject({ cwd: repo });
  const outDir = path.join(scratch, 'build');
  const built = await buildRelease({ project, ref: 'v1', outDir });
  releaseId = built.id;
  manifest = built.manifest;
  for (const [name, key] of [['unsigned', null], ['trusted', trustedKey], ['other', otherKey]] as const) {
    let signaturePath: string | undefined;
    if (key) {
      signaturePath = path.join(outDir, `signature-${name}.json`);
      fs.writeFileSync(signaturePath, JSON.stringify(signRelease(built.id, key.privateKeyPem)));
    }
    await putRelease(createLocalStore(stores[name]), { app: APP, id: built.id, manifestPath: built.manifestPath, archivePath: built.archivePath, signaturePath });
  }
});

interface Host {
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  storeDir: string;
  install(signatures?: SignaturePolicy): Promise<ReleaseManifest>;
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
    install: (signatures = { required: false, publicKeysPem: [] }) => installRelease({ layout, ledger, store, app: APP, id: releaseId, signatures }),
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
  assert.deepEqual(listTree(fetchTmp), [], 'a download was left in the temp folder');
}

const rejectsWith = (expected: string) => (error: unknown) => {
  assert.ok(isSlipwayError(error), `not a SlipwayError: ${String(error)}`);
  assert.equal(error.code, expected, error.message);
  assert.ok(error.hint, 'no hint');
  return true;
};

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
  await assert.rejects(h.install(requireTrusted()), rejectsWith('RELEASE_UNSIGNED'));
  await assertNothingInstalled(h);
});

test('signature required, signed by a key the host does not trust: RELEASE_SIGNATURE_INVALID and nothing on the host', async (t) => {
  const h = await host(t, 'other');
  await assert.rejects(h.install(requireTrusted()), rejectsWith('RELEASE_SIGNATURE_INVALID'));
  await assertNothingInstalled(h);
});

test('a signature that does not verify (trusted key id, forged bytes): RELEASE_SIGNATURE_INVALID', async (t) => {
  const h = await host(t, 'trusted');
  const key = `${APP}/releases/${releaseId}/signature.json`;
  const signature = JSON.parse((await h.store.get(key))!.toString()) as { signature: string };
  const forged = signRelease('0'.repeat(64), trustedKey.privateKeyPem).signature;
  await h.store.put(key, JSON.stringify({ ...signature, signature: forged }));
  await assert.rejects(h.install(requireTrusted()), rejectsWith('RELEASE_SIGNATURE_INVALID'));
  await assertNothingInstalled(h);
});

test('a changed byte in release.tar.gz in the store: refused, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  const archive = path.join(h.storeDir, APP, 'releases', releaseId, 'release.tar.gz');
  const original = fs.readFileSync(archive);
  const plain = gunzipSync(original);
  // A few bits of a deflate stream change nothing when flipped (the gzip header's mtime, unused
  // code lengths); take the first byte from the middle on whose change does change the archive.
  let tampered: Buffer | undefined;
  for (let at = Math.floor(original.length / 2); at < original.length && !tampered; at++) {
    const bytes = Buffer.from(original);
    bytes[at] = bytes[at]! ^ 0xff;
    if (!unchangedWhenUnzipped(bytes, plain)) tampered = bytes;
  }
  assert.ok(tampered);
  fs.writeFileSync(archive, tampered);
  await assert.rejects(h.install(), (error: unknown) => {
    assert.ok(isSlipwayError(error), `not a SlipwayError: ${String(error)}`);
    assert.match(error.code, /^RELEASE_ARCHIVE_(REJECTED|UNREADABLE)$/, error.message);
    return true;
  });
  await assertNothingInstalled(h);
});

test('a file changed inside a well-formed archive (gzip redone, so its checksum is fine): refused by the manifest hashes', async (t) => {
  const h = await host(t, 'unsigned');
  const archive = path.join(h.storeDir, APP, 'releases', releaseId, 'release.tar.gz');
  const plain = gunzipSync(fs.readFileSync(archive));
  const marker = plain.indexOf('healthz');
  assert.ok(marker > 0, 'no "healthz" in the archive');
  plain.write('HEALTHZ', marker, 'latin1'); // same size, other content
  fs.writeFileSync(archive, gzipSync(plain));
  await assert.rejects(h.install(), (error: unknown) => {
    assert.ok(isSlipwayError(error), `not a SlipwayError: ${String(error)}`);
    assert.equal(error.code, 'RELEASE_ARCHIVE_REJECTED');
    assert.match(error.message, /sha256/);
    return true;
  });
  await assertNothingInstalled(h);
});

test('a changed byte in manifest.json in the store: RELEASE_MANIFEST_TAMPERED, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  const file = path.join(h.storeDir, APP, 'releases', releaseId, 'manifest.json');
  const text = fs.readFileSync(file, 'utf8');
  // a file's size, one digit changed: still valid JSON and a valid manifest, but not the one the id names
  const changed = text.replace(/"size": (\d)/, (_m, d: string) => `"size": ${(Number(d) + 1) % 10}`);
  assert.notEqual(changed, text);
  fs.writeFileSync(file, changed);
  await assert.rejects(h.install(), rejectsWith('RELEASE_MANIFEST_TAMPERED'));
  await assertNothingInstalled(h);
});

test('a missing archive in the store: RELEASE_INCOMPLETE, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  await h.store.delete(`${APP}/releases/${releaseId}/release.tar.gz`);
  await assert.rejects(h.install(), rejectsWith('RELEASE_INCOMPLETE'));
  await assertNothingInstalled(h);
});

test('a release missing from the store: RELEASE_NOT_FOUND, nothing on the host', async (t) => {
  const h = await host(t, 'unsigned');
  fs.rmSync(path.join(h.storeDir, APP), { recursive: true });
  await assert.rejects(h.install(), rejectsWith('RELEASE_NOT_FOUND'));
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
