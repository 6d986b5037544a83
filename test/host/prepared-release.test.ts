/**
 * The prepared folder of the next release: a copy of an installed release, made of hard
 * links, that the next install changes into the new release. With real folders and a
 * real local store: the result is the tree a fresh install makes, whatever the change
 * (files changed, gone, added; folders gone and new; a file where a folder was and the
 * other way round; links retargeted; a mode changed); a copy that is not exactly its
 * release's tree is never used; prune and a crash leave none behind.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { installRelease, linkPendingObjects, readStatSnapshot, removeInstalledRelease } from '../../src/host/install-release.js';
import { ensureHostLayout, hostLayout, type HostLayout } from '../../src/host/layout.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { prepareNextRelease, preparedDir } from '../../src/host/prepared-release.js';
import { releaseIdOf, type ManifestLink, type ReleaseManifest } from '../../src/release/manifest.js';
import { verifyTree } from '../../src/release/verify-tree.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { putRelease } from '../../src/store/releases.js';
import { tempDir } from '../helpers/cli.js';
import { contentsOf, manifestOf } from '../helpers/manifests.js';

const APP = 'prep';

interface Scene {
  layout: HostLayout;
  ledger: Ledger;
  store: BlobStore;
  /** puts a release into the store (modes patched by `modes`) and installs it */
  install(version: string, files: Record<string, string>, o?: { links?: ManifestLink[]; modes?: Record<string, 0o644 | 0o755>; layout?: HostLayout; ledger?: Ledger }): Promise<{ id: string; manifest: ReleaseManifest; preparedFrom?: string; fetchedObjects: number }>;
  prepare(id: string, manifest: ReleaseManifest): Promise<string>;
  /** a second host sharing the store: for fresh installs to compare with */
  fresh(): Promise<{ layout: HostLayout; ledger: Ledger }>;
}

async function scene(t: TestContext): Promise<Scene> {
  const dir = tempDir(t, 'slipway-prepared-');
  const host = async (name: string) => {
    const layout = hostLayout(path.join(dir, name));
    await ensureHostLayout(layout);
    const ledger = openLedger(layout.ledgerFile);
    t.after(() => ledger.close());
    return { layout, ledger };
  };
  const { layout, ledger } = await host('host');
  const store = createLocalStore(path.join(dir, 'store'));
  let hosts = 0;
  return {
    layout,
    ledger,
    store,
    async install(version, files, o = {}) {
      const base = manifestOf(APP, version, files, o.links);
      const manifest = { ...base, files: base.files.map((f) => ({ ...f, mode: o.modes?.[f.path] ?? f.mode })) };
      const id = releaseIdOf(manifest);
      await putRelease(store, { app: APP, id, manifestBytes: Buffer.from(JSON.stringify(manifest)), content: contentsOf(files) });
      const result = await installRelease({ layout: o.layout ?? layout, ledger: o.ledger ?? ledger, store, app: APP, id, signatures: { required: false, publicKeysPem: [] } });
      return { id, manifest, fetchedObjects: result.fetchedObjects, ...(result.preparedFrom ? { preparedFrom: result.preparedFrom } : {}) };
    },
    async prepare(id, manifest) {
      // As the watch step does: the copy is made of the host's objects, this release's own linked in first.
      await linkPendingObjects(layout);
      return prepareNextRelease({ layout, store, app: APP, id, manifest });
    },
    fresh: () => host(`fresh-${++hosts}`),
  };
}

/** Every entry under `root`: type, permission bits, content or link target. */
function treeOf(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const full = rel ? path.join(root, rel) : root;
    const stat = fs.lstatSync(full);
    const mode = (stat.mode & 0o777).toString(8);
    if (stat.isSymbolicLink()) out.push(`${rel} link ${fs.readlinkSync(full)}`);
    else if (stat.isFile()) out.push(`${rel} file ${mode} ${fs.readFileSync(full, 'utf8')}`);
    else {
      out.push(`${rel || '.'} folder ${mode}`);
      for (const name of fs.readdirSync(full).sort()) walk(rel ? `${rel}/${name}` : name);
    }
  };
  walk('');
  return out;
}

const V1 = {
  'app.js': 'v1 app\n',
  'bin/tool': 'tool\n',
  'lib/keep.js': 'keep\n',
  'lib/change.js': 'old\n',
  'lib/gone.js': 'gone\n',
  'gone-folder/a/b.js': 'b\n',
  'was-file': 'a file\n',
  'was-folder/inner.js': 'inner\n',
  'node_modules/pkg/index.js': 'pkg\n',
  'node_modules/other/index.js': 'other\n',
};
const V1_LINKS: ManifestLink[] = [
  { path: 'node_modules/.bin/gone', target: '../other/index.js' },
  { path: 'node_modules/.bin/pkg', target: '../pkg/index.js' },
  { path: 'python', target: '/usr/bin/python3' },
];
const V2 = {
  'app.js': 'v1 app\n',
  'bin/tool': 'tool\n',
  'lib/keep.js': 'keep\n',
  'lib/change.js': 'new\n',
  'lib/added.js': 'added\n',
  'new-folder/deep/x.js': 'x\n',
  'was-file/now-inside.js': 'now a folder\n',
  'was-folder': 'now a file\n',
  'node_modules/pkg/index.js': 'pkg\n',
  'node_modules/other/index.js': 'other\n',
};
const V2_LINKS: ManifestLink[] = [
  { path: 'node_modules/.bin/other', target: '../other/index.js' },
  { path: 'node_modules/.bin/pkg', target: '../pkg/lib.js' },
  { path: 'python', target: '/usr/bin/python3' },
];

test('a release made from the prepared copy of the one before is the tree a fresh install makes, whatever changed', async (t) => {
  const s = await scene(t);
  const v1 = await s.install('v1', V1, { links: V1_LINKS });
  const v1Tree = treeOf(path.join(s.layout.releasesDir, v1.id));
  assert.equal(await s.prepare(v1.id, v1.manifest), 'made');
  assert.equal(await s.prepare(v1.id, v1.manifest), 'present', 'made once');
  assert.deepEqual(treeOf(preparedDir(s.layout, v1.id)), v1Tree, 'the prepared copy is v1, read-only like it');

  const v2 = await s.install('v2', V2, { links: V2_LINKS, modes: { 'bin/tool': 0o755 } });
  assert.equal(v2.preparedFrom, 'v1');
  assert.equal(fs.existsSync(preparedDir(s.layout, v1.id)), false, 'the copy became v2');
  const fresh = await s.fresh();
  const v2Fresh = await s.install('v2', V2, { links: V2_LINKS, modes: { 'bin/tool': 0o755 }, ...fresh });
  assert.equal(v2Fresh.id, v2.id);
  assert.equal(v2Fresh.preparedFrom, undefined);
  const made = path.join(s.layout.releasesDir, v2.id);
  assert.deepEqual(treeOf(made), treeOf(path.join(fresh.layout.releasesDir, v2.id)));
  assert.ok(treeOf(made).includes('bin/tool file 555 tool\n'), 'the mode change is there');
  assert.deepEqual(treeOf(path.join(s.layout.releasesDir, v1.id)), v1Tree, 'v1 is untouched');
  for (const [id, manifest] of [[v1.id, v1.manifest], [v2.id, v2.manifest]] as const) {
    assert.deepEqual(await verifyTree(path.join(s.layout.releasesDir, id), manifest, { snapshot: await readStatSnapshot(s.layout, id) }), { modified: [], added: [], removed: [] });
    assert.deepEqual(await verifyTree(path.join(s.layout.releasesDir, id), manifest, { full: true }), { modified: [], added: [], removed: [] });
  }
  // Unchanged files are the same hard links; changed ones are not.
  const ino = (id: string, rel: string) => fs.lstatSync(path.join(s.layout.releasesDir, id, rel)).ino;
  assert.equal(ino(v1.id, 'lib/keep.js'), ino(v2.id, 'lib/keep.js'));
  assert.notEqual(ino(v1.id, 'lib/change.js'), ino(v2.id, 'lib/change.js'));
});

test('a prepared copy that is not exactly its release is not used, and the install is still right', async (t) => {
  const tamperings: Array<[string, (copy: string) => void]> = [
    ['a file added', (copy) => withWritable(path.join(copy, 'lib'), () => fs.writeFileSync(path.join(copy, 'lib/extra.js'), 'extra\n'))],
    ['a file replaced by another with the same content', (copy) => withWritable(path.join(copy, 'lib'), () => {
      fs.unlinkSync(path.join(copy, 'lib/keep.js'));
      fs.writeFileSync(path.join(copy, 'lib/keep.js'), 'keep\n');
    })],
    ['a link retargeted', (copy) => withWritable(path.join(copy, 'node_modules/.bin'), () => {
      fs.unlinkSync(path.join(copy, 'node_modules/.bin/pkg'));
      fs.symlinkSync('/etc/passwd', path.join(copy, 'node_modules/.bin/pkg'));
    })],
    ['a folder left writable', (copy) => fs.chmodSync(path.join(copy, 'lib'), 0o755)],
    ['a folder gone', (copy) => withWritable(copy, () => fs.renameSync(path.join(copy, 'gone-folder'), path.join(path.dirname(copy), 'elsewhere')))],
    ['a folder replaced by a copy of it', (copy) => withWritable(copy, () => {
      fs.cpSync(path.join(copy, 'lib'), path.join(copy, 'lib2'), { recursive: true });
      fs.renameSync(path.join(copy, 'lib'), path.join(path.dirname(copy), 'old-lib'));
      fs.renameSync(path.join(copy, 'lib2'), path.join(copy, 'lib'));
    })],
    ['its record gone', (copy) => fs.rmSync(path.join(path.dirname(path.dirname(copy)), 'manifests', `${path.basename(copy).slice('.prepared-'.length)}.prepared.json`))],
  ];
  for (const [what, tamper] of tamperings) {
    await t.test(what, async (t) => {
      const s = await scene(t);
      const v1 = await s.install('v1', V1, { links: V1_LINKS });
      assert.equal(await s.prepare(v1.id, v1.manifest), 'made');
      tamper(preparedDir(s.layout, v1.id));
      const v2 = await s.install('v2', V2, { links: V2_LINKS });
      assert.equal(v2.preparedFrom, undefined, 'not made from the copy');
      assert.equal(fs.existsSync(preparedDir(s.layout, v1.id)), false, 'the copy is gone');
      const made = path.join(s.layout.releasesDir, v2.id);
      assert.deepEqual(await verifyTree(made, v2.manifest, { full: true }), { modified: [], added: [], removed: [] });
      assert.ok(!treeOf(made).some((line) => line.includes('extra') || line.includes('/etc/passwd')));
    });
  }
});

test('prune takes a release prepared copy with it; an install removes copies a crash left half made and copies of releases no longer there', async (t) => {
  const s = await scene(t);
  const v1 = await s.install('v1', V1, { links: V1_LINKS });
  assert.equal(await s.prepare(v1.id, v1.manifest), 'made');
  await removeInstalledRelease(s.layout, s.ledger, v1.id);
  assert.equal(fs.existsSync(preparedDir(s.layout, v1.id)), false);

  const v2 = await s.install('v2', V2, { links: V2_LINKS });
  assert.equal(await s.prepare(v2.id, v2.manifest), 'made');
  const half = path.join(s.layout.releasesDir, `.preparing-${v2.id}-0123456789ab`);
  fs.mkdirSync(path.join(half, 'lib'), { recursive: true });
  const orphan = preparedDir(s.layout, 'f'.repeat(64));
  fs.mkdirSync(orphan);
  const v3 = await s.install('v3', { ...V2, 'app.js': 'v3\n' });
  assert.equal(v3.preparedFrom, 'v2');
  assert.deepEqual(fs.readdirSync(s.layout.releasesDir).filter((name) => name.startsWith('.')), [], 'no copy left, whole or half');
  assert.deepEqual(fs.readdirSync(s.layout.manifestsDir).filter((name) => name.includes('prepared')), [], 'no record left');
});

test('the shared data paths: a seeded folder shipped by both releases is linked, not kept, and nothing is changed through the link', async (t) => {
  const s = await scene(t);
  const data = { databases: [], folders: ['content', 'uploads'], seed: ['content'] };
  const withData = async (version: string, files: Record<string, string>) => {
    const base = manifestOf(APP, version, files);
    const manifest: ReleaseManifest = { ...base, runtime: { ...base.runtime, data } };
    const id = releaseIdOf(manifest);
    await putRelease(s.store, { app: APP, id, manifestBytes: Buffer.from(JSON.stringify(manifest)), content: contentsOf(files) });
    const result = await installRelease({ layout: s.layout, ledger: s.ledger, store: s.store, app: APP, id, signatures: { required: false, publicKeysPem: [] } });
    return { id, manifest, result };
  };
  const v1 = await withData('v1', { 'app.js': '1\n', 'content/themes/a.css': 'a\n' });
  const shared = path.join(s.layout.sharedDir, 'content');
  assert.equal(fs.readFileSync(path.join(shared, 'themes/a.css'), 'utf8'), 'a\n', 'seeded by the first install');
  assert.equal(await s.prepare(v1.id, v1.manifest), 'made');
  const v2 = await withData('v2', { 'app.js': '2\n', 'content/themes/a.css': 'a2\n', 'content/themes/b.css': 'b\n' });
  assert.equal(v2.result.preparedFrom, 'v1');
  const release = path.join(s.layout.releasesDir, v2.id);
  assert.equal(fs.readlinkSync(path.join(release, 'content')), shared);
  assert.equal(fs.readlinkSync(path.join(release, 'uploads')), path.join(s.layout.sharedDir, 'uploads'));
  assert.deepEqual(fs.readdirSync(path.join(shared, 'themes')), ['a.css'], 'the shared folder is the app\'s: not filled again');
  assert.equal(fs.readFileSync(path.join(shared, 'themes/a.css'), 'utf8'), 'a\n');
  for (const dir of [shared, path.join(shared, 'themes')]) assert.notEqual(fs.statSync(dir).mode & 0o200, 0, `${dir} stays writable`);
  assert.equal(fs.statSync(release).mode & 0o777, 0o555);
});

function withWritable(dir: string, change: () => void): void {
  fs.chmodSync(dir, 0o755);
  try {
    change();
  } finally {
    fs.chmodSync(dir, 0o555);
  }
}
