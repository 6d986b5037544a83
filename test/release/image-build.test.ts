/**
 * `slipway build` of container services with a real Docker engine: the image is built
 * from the clean export, pinned in the manifest by id with its layers, tagged, and its
 * layers and config go into the store content-addressed, only those the store lacks. A
 * Dockerfile that fails fails the build with the builder's last lines, and nothing is
 * stored; an `image:` the engine lacks is refused with what to do.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { buildRelease } from '../../src/release/build.js';
import { parseManifest } from '../../src/release/manifest.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { readObjects } from '../../src/store/read-objects.js';
import { releaseImageObjects } from '../../src/store/image-objects.js';
import { readReleaseManifest } from '../../src/store/releases.js';
import { makeSandbox } from '../helpers/cli.js';
import { requireDocker, NODE_BASE_IMAGE } from '../helpers/docker.js';
import { expectRejects } from '../helpers/expect-error.js';
import { buildAndStore, inspectImage, makeImageRepo, removeImagesOf, webService } from '../helpers/image-repo.js';

const APP = 'imgbuild';
after(() => removeImagesOf(APP));

test('build: a container service gets its image built, pinned by id with its layers, tagged, and its objects stored once', async (t) => {
  if (!requireDocker(t)) return;
  const repo = makeImageRepo(t, APP, `console.log("built ${Date.now()}");\n`);
  const storeDir = path.join(repo.scratch, 'store');
  const store = createLocalStore(storeDir);
  const built = await buildAndStore({ project: repo.containerProject(), store, outDir: path.join(repo.scratch, 'out') });

  const web = built.manifest.runtime.services.find((s) => s.name === 'web')!;
  assert.ok(web.image, 'the manifest pins the image of web');
  assert.match(web.image.id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(web.image.source, 'Dockerfile');
  const engine = inspectImage(web.image.id);
  assert.ok(engine, 'the engine holds the built image');
  const base = inspectImage(NODE_BASE_IMAGE)!;
  // FROM the base (its layer first), then COPY app.js: one layer more
  const baseLayers = (JSON.parse(JSON.stringify(base)) as { RootFS: { Layers: string[] } }).RootFS.Layers;
  const layers = (JSON.parse(JSON.stringify(engine)) as { RootFS: { Layers: string[] } }).RootFS.Layers;
  assert.deepEqual(web.image.layers.map((l) => `sha256:${l.sha256}`), layers);
  assert.deepEqual(layers.slice(0, baseLayers.length), baseLayers);
  assert.equal(layers.length, baseLayers.length + 1);
  assert.ok(web.image.layers[0]!.size > 50 * 1024 * 1024, 'the base layer (node and its libraries) is the large one');
  assert.ok(web.image.layers.at(-1)!.size < 64 * 1024, 'the app layer is small');
  assert.equal(engine.Config.Labels?.['dev.slipway.app'], APP);
  assert.equal(engine.Config.Labels?.['dev.slipway.version'], 'v1');
  assert.ok(engine.RepoTags.includes(`slipway/${APP}:v1`), `tags: ${engine.RepoTags.join(', ')}`);
  assert.ok(engine.RepoTags.includes(`slipway/${APP}:${built.id}`), `tags: ${engine.RepoTags.join(', ')}`);
  // the manifest as stored pins it too (so the release id and its signature do)
  assert.deepEqual(parseManifest(fs.readFileSync(built.manifestPath), built.id).runtime.services[0]!.image, web.image);

  // The store holds the config (keyed by the image id) and every layer (keyed by its diff id), each checked on reading.
  const index = await loadObjectIndex(store, APP);
  const objects = releaseImageObjects(built.manifest);
  assert.equal(objects.length, web.image.layers.length + 1);
  const read = new Map<string, Buffer>();
  const wanted = objects.map((o) => ({ sha256: o.sha256, size: o.size ?? index.get(o.sha256)!.size }));
  await readObjects(store, APP, wanted, index, (digest, content) => void read.set(digest, content));
  const config = read.get(web.image.id.slice('sha256:'.length))!;
  assert.equal(`sha256:${createHash('sha256').update(config).digest('hex')}`, web.image.id);
  assert.deepEqual((JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids, layers);
  for (const layer of web.image.layers) assert.equal(read.get(layer.sha256)!.length, layer.size);

  // Built again from the same commit: the engine's cache gives the same image, so the same release id, and nothing new is stored.
  const packsBefore = fs.readdirSync(path.join(storeDir, APP, 'objects', 'packs')).sort();
  const again = await buildAndStore({ project: repo.containerProject(), store, outDir: path.join(repo.scratch, 'out2') });
  assert.equal(again.id, built.id);
  assert.deepEqual(fs.readdirSync(path.join(storeDir, APP, 'objects', 'packs')).sort(), packsBefore, 'no new pack: every object was there');
  assert.equal(fs.existsSync(path.join(repo.scratch, 'out2', 'image-objects')), false, 'the image was not read out of the engine again');

  // A new commit changing app.js: only its layer and the new config are new to the store.
  repo.write('app.js', `console.log("v2 ${Date.now()}");\n`);
  repo.commit('v2');
  const v2 = await buildAndStore({ project: repo.containerProject(), store, outDir: path.join(repo.scratch, 'out3'), version: 'v2' });
  const v2Image = v2.manifest.runtime.services[0]!.image!;
  assert.notEqual(v2Image.id, web.image.id);
  assert.deepEqual(v2Image.layers.slice(0, -1), web.image.layers.slice(0, -1));
  const newPacks = fs.readdirSync(path.join(storeDir, APP, 'objects', 'packs')).filter((n) => n.endsWith('.idx') && !packsBefore.includes(n));
  const index2 = await loadObjectIndex(store, APP);
  const inNewPacks = [...index2].filter(([, location]) => newPacks.includes(`${location.pack}.idx`)).map(([digest]) => digest).sort();
  const expected = [v2Image.id.slice('sha256:'.length), v2Image.layers.at(-1)!.sha256, ...v2.manifest.files.filter((f) => f.path === 'app.js').map((f) => f.sha256)].sort();
  assert.deepEqual(inNewPacks, expected, 'the new packs hold the new config, the new layer and the changed file, nothing else');
});

test('build: a Dockerfile that fails fails slipway build with the builder\'s last lines, and nothing reaches the store', async (t) => {
  if (!requireDocker(t)) return;
  const repo = makeImageRepo(t, APP);
  repo.write('fail.sh', 'i=0\nwhile [ $i -lt 30 ]; do echo step-line-$i; i=$((i+1)); done\necho the-last-words\nexit 3\n');
  repo.write('Dockerfile', 'FROM slipway-test/node-base:1\nCOPY fail.sh /app/fail.sh\nRUN /bin/sh /app/fail.sh\n');
  repo.commit('broken');
  const sandbox = makeSandbox(t);
  const storeDir = path.join(sandbox.root, 'store');
  const result = await sandbox.run(['build', '--store', storeDir, '--version', 'broken'], { cwd: repo.dir, timeoutMs: 120_000 });
  assert.equal(result.code, 1, result.stderr);
  // The error itself (after the build's streamed output) carries the builder's last lines.
  const error = result.stderr.slice(result.stderr.indexOf('error: '));
  assert.match(error, /^error: the image of service web did not build \(Dockerfile\): .*returned a non-zero code: 3/);
  assert.match(error, /the-last-words/);
  assert.match(error, /step-line-29/);
  assert.match(error, /step-line-20/);
  assert.doesNotMatch(error, /step-line-3\b/, 'only the last lines are shown');
  assert.match(error, /Fix the Dockerfile/);
  assert.deepEqual(fs.existsSync(storeDir) ? fs.readdirSync(storeDir, { recursive: true }).filter((n) => !fs.statSync(path.join(storeDir, String(n))).isDirectory()) : [], [], 'the store holds nothing');
  assert.deepEqual(fs.readdirSync(sandbox.tmp), [], 'the build left nothing in TMPDIR');
});

test('build: the files .dockerignore names are not in the build context, as with docker build', async (t) => {
  if (!requireDocker(t)) return;
  const repo = makeImageRepo(t, APP, 'console.log("ignored files");\n', {
    dockerfile: 'FROM slipway-test/node-base:1\nCOPY . /ctx\nRUN [ ! -e /ctx/local.env ] && [ ! -e /ctx/logs/trace.txt ] && [ -e /ctx/logs/keep.txt ] && [ -e /ctx/app.js ] && [ ! -e /ctx/docs/NOTES.md ]\n',
    files: { '.dockerignore': 'local.env\nlogs\n!logs/keep.txt\n**/*.md\n', 'local.env': 'TOKEN=not-for-the-image\n', 'logs/trace.txt': 'x\n', 'logs/keep.txt': 'kept\n', 'docs/NOTES.md': 'x\n' },
  });
  const built = await buildAndStore({ project: repo.containerProject(), store: createLocalStore(path.join(repo.scratch, 'store')), outDir: path.join(repo.scratch, 'out') });
  assert.ok(built.manifest.runtime.services[0]!.image, 'the image built: the RUN line found only what .dockerignore lets through');
});

test('build: slipway build (the CLI) stores the image objects with the release and says so', async (t) => {
  if (!requireDocker(t)) return;
  const repo = makeImageRepo(t, APP, `console.log("cli ${Date.now()}");\n`);
  const sandbox = makeSandbox(t);
  const storeDir = path.join(sandbox.root, 'store');
  const result = await sandbox.run(['build', '--store', storeDir], { cwd: repo.dir, timeoutMs: 180_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /image {4}web sha256:[0-9a-f]{12} \(\d+ layer\(s\), [\d.]+ MiB\) from Dockerfile/);
  assert.match(result.stdout, /layers {3}[\d.]+ \w+ new in \d+ image object\(s\)/);
  const id = /id {7}([0-9a-f]{64})/.exec(result.stdout)![1]!;
  const store = createLocalStore(storeDir);
  const manifest = await readReleaseManifest(store, APP, id);
  const index = await loadObjectIndex(store, APP);
  for (const object of releaseImageObjects(manifest)) assert.ok(index.has(object.sha256), `${object.kind} ${object.sha256.slice(0, 12)} is in the store`);
});

test('build: an image: service is pinned to the id of the image the engine holds; one it lacks is refused with what to do', async (t) => {
  if (!requireDocker(t)) return;
  const repo = makeImageRepo(t, APP);
  const project = repo.project({ app: APP, services: [webService({ image: NODE_BASE_IMAGE })] });
  const store = createLocalStore(path.join(repo.scratch, 'store'));
  const built = await buildAndStore({ project, store, outDir: path.join(repo.scratch, 'out') });
  const image = built.manifest.runtime.services[0]!.image!;
  assert.equal(image.id, inspectImage(NODE_BASE_IMAGE)!.Id);
  assert.equal(image.source, NODE_BASE_IMAGE);

  const missing = repo.project({ app: APP, services: [webService({ image: 'slipway-test/not-here:7' })] });
  const outDir = path.join(repo.scratch, 'out-missing');
  await expectRejects(() => buildRelease({ project: missing, outDir }), 'BUILD_IMAGE_NOT_FOUND', {
    message: /service web names image slipway-test\/not-here:7, which the Docker engine on this machine does not have/,
    hint: /does not pull from registries yet: run `docker pull slipway-test\/not-here:7`/,
  });
  assert.equal(fs.existsSync(path.join(outDir, 'manifest.json')), false);
});
