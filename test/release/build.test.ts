import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { list } from 'tar';
import { buildRelease } from '../../src/release/build.js';
import { parseManifest, releaseIdOf } from '../../src/release/manifest.js';
import { expectRejects } from '../helpers/expect-error.js';
import { makeAppRepo, makeRepo } from './repo-fixture.js';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

test('build: the manifest describes the commit, its files, notes, config and migrations', async (t) => {
  const repo = makeAppRepo(t);
  const project = repo.project({
    services: [
      {
        name: 'web',
        command: 'node server.js',
        portEnv: 'PORT',
        env: {},
        health: { path: '/healthz', intervalMs: 200, timeoutMs: 1000, successes: 1, deadlineMs: 10_000 },
      },
    ],
    data: { databases: [{ name: 'main', engine: 'sqlite', path: 'db/app.sqlite' }], folders: ['uploads'] },
    build: { commands: ['mkdir -p dist && echo "$SLIPWAY_VERSION $SLIPWAY_COMMIT" > dist/version.txt'], include: [], exclude: [] },
    migrate: { command: 'node migrate.js', reversible: false, timeoutMs: 60_000 },
    config: [
      { name: 'SECRET_KEY', required: true, secret: true },
      { name: 'OPTIONAL_FLAG', required: false, secret: false, default: 'x' },
      { name: 'DATABASE_URL', required: true, secret: true },
    ],
  });
  const outDir = path.join(repo.scratch, 'out');
  const lines: string[] = [];
  const built = await buildRelease({ project, outDir, archive: true, onOutput: (line) => lines.push(line) });
  const m = built.manifest;

  assert.equal(m.schema, 1);
  assert.equal(m.app, 'demo');
  assert.equal(m.version, 'v1');
  assert.equal(m.commit, repo.v1);
  assert.equal(m.message, 'First release\n\nWith a body line.');
  assert.equal(m.date, new Date(repo.git('show', '-s', '--format=%cI', 'HEAD').trim()).toISOString());
  assert.equal(m.dirty, false);
  assert.equal(m.notes, '- first release\n### Details\n- a detail');
  assert.deepEqual(m.requiredConfig, ['DATABASE_URL', 'SECRET_KEY']);
  assert.equal(m.migrates, true);
  assert.deepEqual(m.runtime, {
    services: project.config.services,
    data: project.config.data,
    migrate: project.config.migrate,
    hooks: project.config.hooks,
    config: project.config.config,
  });

  assert.deepEqual(
    m.files.map((f) => f.path),
    ['.gitignore', 'CHANGELOG.md', 'bin/start.sh', 'dist/version.txt', 'package.json', 'public/app.js.map', 'server.js', 'slipway.yml'],
  );
  const byPath = new Map(m.files.map((f) => [f.path, f]));
  assert.equal(byPath.get('bin/start.sh')!.mode, 0o755);
  assert.equal(byPath.get('server.js')!.mode, 0o644);
  assert.equal(byPath.get('server.js')!.sha256, sha256('console.log("hello");\n'));
  assert.equal(byPath.get('server.js')!.size, 'console.log("hello");\n'.length);
  assert.equal(byPath.get('dist/version.txt')!.sha256, sha256(`v1 ${repo.v1}\n`), 'build commands see SLIPWAY_VERSION and SLIPWAY_COMMIT');

  assert.equal(built.id, releaseIdOf(m));
  assert.match(built.id, /^[0-9a-f]{64}$/);
  assert.equal(built.manifestPath, path.join(outDir, 'manifest.json'));
  assert.equal(built.signaturePath, undefined);
  assert.deepEqual(parseManifest(fs.readFileSync(built.manifestPath), built.id), m);

  // The archive holds exactly the manifest's files, in order, with normalized metadata.
  const entries: { path: string; mode?: number; uid?: number; gid?: number; uname?: string; mtime?: Date; type: string }[] = [];
  await list({ file: built.archivePath!, onReadEntry: (e) => entries.push({ path: e.path, mode: e.mode, uid: e.uid, gid: e.gid, uname: e.uname, mtime: e.mtime, type: e.type }) });
  assert.deepEqual(entries.map((e) => e.path), m.files.map((f) => f.path));
  for (const e of entries) {
    assert.equal(e.type, 'File');
    assert.equal(e.mode, byPath.get(e.path)!.mode);
    assert.ok(!e.uid, `uid of ${e.path}`);
    assert.ok(!e.gid, `gid of ${e.path}`);
    assert.ok(!e.uname, `uname of ${e.path}`);
    assert.equal(e.mtime!.getTime(), Math.floor(Date.parse(m.date) / 1000) * 1000);
  }
});

test('build: the same commit twice gives the same id and a byte-identical archive', async (t) => {
  const repo = makeAppRepo(t);
  const project = repo.project({ build: { commands: ['echo built > built.txt'], include: [], exclude: [] } });
  const first = await buildRelease({ project, outDir: path.join(repo.scratch, 'a'), archive: true });
  // Touch the work tree's mtimes: they must not matter.
  fs.utimesSync(path.join(repo.dir, 'server.js'), new Date(), new Date());
  const second = await buildRelease({ project, outDir: path.join(repo.scratch, 'b'), archive: true });
  assert.equal(second.id, first.id);
  assert.ok(fs.readFileSync(second.archivePath!).equals(fs.readFileSync(first.archivePath!)), 'archives differ');
  assert.ok(fs.readFileSync(second.manifestPath).equals(fs.readFileSync(first.manifestPath)));
});

test('build: --version overrides the tag, and releases/<version>.md gives the notes', async (t) => {
  const repo = makeAppRepo(t);
  repo.write('releases/2.0.0.md', '# 2.0.0\n\nBig changes.\n');
  repo.commit('notes for 2.0.0');
  const built = await buildRelease({ project: repo.project(), version: '2.0.0', outDir: path.join(repo.scratch, 'out') });
  assert.equal(built.manifest.version, '2.0.0');
  assert.equal(built.manifest.notes, '# 2.0.0\n\nBig changes.');
  assert.equal(built.manifest.migrates, false);
  assert.deepEqual(built.manifest.requiredConfig, []);

  await expectRejects(buildRelease({ project: repo.project(), version: '../evil', outDir: path.join(repo.scratch, 'x') }), 'BUILD_VERSION_INVALID', { exitCode: 2 });
});

test('build: without a tag the version is the short commit; a named ref builds that commit', async (t) => {
  const repo = makeAppRepo(t);
  repo.write('server.js', 'console.log("v2");\n');
  const head = repo.commit('second');
  const built = await buildRelease({ project: repo.project(), outDir: path.join(repo.scratch, 'head') });
  assert.equal(built.manifest.version, head.slice(0, 7));
  assert.equal(built.manifest.notes, '');

  const old = await buildRelease({ project: repo.project(), ref: 'v1', outDir: path.join(repo.scratch, 'v1') });
  assert.equal(old.manifest.commit, repo.v1);
  assert.equal(old.manifest.version, 'v1');
  assert.equal(old.manifest.files.find((f) => f.path === 'server.js')!.sha256, sha256('console.log("hello");\n'));
});

test('build: an unknown ref is GIT_REF_NOT_FOUND (exit code 2) naming the ref', async (t) => {
  const repo = makeAppRepo(t);
  for (const ref of ['v404', '--output=/tmp/x']) {
    const error = await expectRejects(buildRelease({ project: repo.project(), ref, outDir: path.join(repo.scratch, 'out') }), 'GIT_REF_NOT_FOUND');
    assert.equal(error.exitCode, 2);
    assert.ok(error.message.includes(ref));
    assert.match(error.hint ?? '', /git tag/);
  }
  assert.equal(fs.existsSync(path.join(repo.scratch, 'out')), false);
});

test('build: a dirty tree is refused; --allow-dirty builds the files on disk as <version>-dirty', async (t) => {
  const repo = makeAppRepo(t);
  repo.write('server.js', 'console.log("edited");\n');
  repo.write('new-file.txt', 'untracked\n');
  repo.write('ignored.log', 'ignored\n');
  const project = repo.project();

  const error = await expectRejects(buildRelease({ project, outDir: path.join(repo.scratch, 'refused') }), 'BUILD_DIRTY_TREE');
  assert.equal(error.exitCode, 2);
  assert.match(error.hint ?? '', /--allow-dirty/);

  const dirty = await buildRelease({ project, allowDirty: true, outDir: path.join(repo.scratch, 'dirty') });
  assert.equal(dirty.manifest.version, 'v1-dirty');
  assert.equal(dirty.manifest.dirty, true);
  assert.equal(dirty.manifest.notes, '- first release\n### Details\n- a detail');
  const paths = dirty.manifest.files.map((f) => f.path);
  assert.ok(paths.includes('new-file.txt'));
  assert.ok(!paths.includes('ignored.log'));
  assert.equal(dirty.manifest.files.find((f) => f.path === 'server.js')!.sha256, sha256('console.log("edited");\n'));
  assert.equal(dirty.manifest.files.find((f) => f.path === 'bin/start.sh')!.mode, 0o755);

  // A named ref is exported from git, so the edits do not matter.
  const clean = await buildRelease({ project, ref: 'v1', outDir: path.join(repo.scratch, 'clean') });
  assert.equal(clean.manifest.dirty, false);
  assert.equal(clean.manifest.version, 'v1');
  assert.equal(clean.manifest.files.find((f) => f.path === 'server.js')!.sha256, sha256('console.log("hello");\n'));
});

test('build: a failing command is BUILD_COMMAND_FAILED with its last 20 lines; the export is removed', async (t) => {
  const repo = makeAppRepo(t);
  const marker = path.join(repo.scratch, 'export-dir.txt');
  const command = `pwd > '${marker}'; for i in $(seq 1 30); do echo out$i; done; echo "went wrong" >&2; exit 3`;
  const seen: string[] = [];
  const error = await expectRejects(buildRelease({ project: repo.project({ build: { commands: ['true', command], include: [], exclude: [] } }), outDir: path.join(repo.scratch, 'out'), onOutput: (l) => seen.push(l) }), 'BUILD_COMMAND_FAILED');
  assert.ok(error.message.includes('exit'), error.message);
  assert.ok(error.message.includes('code 3'), error.message);
  assert.ok(error.message.includes('went wrong" >&2'), 'the message names the command');
  assert.equal(error.details.length, 20);
  assert.ok(error.details.includes('went wrong'));
  assert.ok(error.details.includes('out30'));
  assert.ok(!error.details.includes('out1'));
  assert.ok(seen.includes('out1') && seen.includes('went wrong'), 'every line is streamed to onOutput');
  const exportDir = fs.readFileSync(marker, 'utf8').trim();
  assert.ok(exportDir.length > 0);
  assert.equal(fs.existsSync(exportDir), false, 'the temporary export was removed');
  assert.equal(fs.existsSync(path.join(repo.scratch, 'out', 'manifest.json')), false);
});

test('build: include and exclude globs choose the files', async (t) => {
  const repo = makeAppRepo(t);
  repo.write('dist/app.js', 'app\n');
  repo.write('dist/app.js.map', '{}\n');
  repo.write('dist/secret/key.txt', 'secret\n');
  repo.write('dist/nested/deep/x.js', 'x\n');
  repo.write('docs/readme.md', 'docs\n');
  repo.commit('dist');
  const project = repo.project({
    build: { commands: [], include: ['dist', 'server.js', 'bin/**'], exclude: ['*.map', 'dist/secret'] },
  });
  const built = await buildRelease({ project, outDir: path.join(repo.scratch, 'out') });
  assert.deepEqual(
    built.manifest.files.map((f) => f.path),
    ['bin/start.sh', 'dist/app.js', 'dist/nested/deep/x.js', 'server.js'],
  );
});

test('build: links are kept as links (their target text), never followed; links leaving the release are listed', async (t) => {
  const repo = makeAppRepo(t);
  fs.mkdirSync(path.join(repo.dir, 'node_modules', 'tool', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(repo.dir, 'node_modules', 'tool', 'bin', 'cli.js'), '#!/usr/bin/env node\n');
  fs.mkdirSync(path.join(repo.dir, 'node_modules', '.bin'));
  fs.symlinkSync('../tool/bin/cli.js', path.join(repo.dir, 'node_modules', '.bin', 'tool'));
  fs.symlinkSync('tool', path.join(repo.dir, 'node_modules', 'tool-alias')); // a link to a folder
  fs.symlinkSync('/usr/bin/python3', path.join(repo.dir, 'python'));
  fs.symlinkSync('../../outside', path.join(repo.dir, 'node_modules', 'escape'));
  repo.commit('links');
  const built = await buildRelease({ project: repo.project(), outDir: path.join(repo.scratch, 'out') });
  assert.deepEqual(built.manifest.links, [
    { path: 'node_modules/.bin/tool', target: '../tool/bin/cli.js' },
    { path: 'node_modules/escape', target: '../../outside' },
    { path: 'node_modules/tool-alias', target: 'tool' },
    { path: 'python', target: '/usr/bin/python3' },
  ]);
  // The folder behind tool-alias is not read through it: its file appears once, at its real path.
  assert.deepEqual(built.manifest.files.filter((f) => f.path.includes('cli.js')).map((f) => f.path), ['node_modules/tool/bin/cli.js']);
  assert.deepEqual(built.externalLinks.map((l) => l.path), ['node_modules/escape', 'python']);
  assert.equal(parseManifest(fs.readFileSync(built.manifestPath), built.id).links?.length, 4, 'links are part of the manifest and so of the id');

  // Excluded links are left out like files.
  const without = await buildRelease({ project: repo.project({ build: { commands: [], include: [], exclude: ['python'] } }), outDir: path.join(repo.scratch, 'out2') });
  assert.ok(!without.manifest.links!.some((l) => l.path === 'python'));
  assert.notEqual(without.id, built.id);
});

test('build: a tree without links has no links field, so its id is what it was before links existed', async (t) => {
  const repo = makeAppRepo(t);
  const built = await buildRelease({ project: repo.project(), outDir: path.join(repo.scratch, 'out') });
  assert.equal('links' in built.manifest, false);
  assert.doesNotMatch(fs.readFileSync(built.manifestPath, 'utf8'), /"links"/);
});

test('build: every entry that cannot go into a release is reported at once, and the build fails with exit 1', async (t) => {
  const repo = makeAppRepo(t);
  const project = repo.project({ build: { commands: ['mkfifo pipe-a pipe-b && printf x > "bad\\\\name"'], include: [], exclude: [] } });
  const error = await expectRejects(buildRelease({ project, outDir: path.join(repo.scratch, 'out') }), 'BUILD_TREE_INVALID');
  assert.equal(error.exitCode, 1);
  assert.match(error.message, /3 entries/);
  assert.equal(error.details.length, 3, error.details.join('\n'));
  assert.ok(error.details.some((d) => d.startsWith('pipe-a')));
  assert.ok(error.details.some((d) => d.startsWith('pipe-b')));
  assert.ok(error.details.some((d) => d.includes('backslash')));
  assert.match(error.hint ?? '', /exclude/);
});

test('build: a project in a subfolder of the repository releases only that subfolder', async (t) => {
  const repo = makeRepo(t);
  repo.write('README.md', 'monorepo\n');
  repo.write('apps/web/slipway.yml', 'app: web\n');
  repo.write('apps/web/index.js', 'web\n');
  repo.write('apps/other/index.js', 'other\n');
  repo.commit('monorepo');
  repo.write('apps/other/index.js', 'edited elsewhere\n'); // dirt outside the project does not block it
  const built = await buildRelease({ project: repo.project({ app: 'web' }, path.join(repo.dir, 'apps/web')), outDir: path.join(repo.scratch, 'out') });
  assert.deepEqual(built.manifest.files.map((f) => f.path), ['index.js', 'slipway.yml']);
  assert.equal(built.manifest.dirty, false);
});

test('build: a project outside any git repository is GIT_NOT_A_REPOSITORY', async (t) => {
  const repo = makeRepo(t);
  const outside = path.join(repo.scratch, 'plain');
  fs.mkdirSync(outside);
  await expectRejects(buildRelease({ project: repo.project({}, outside), outDir: path.join(repo.scratch, 'out') }), 'GIT_NOT_A_REPOSITORY', { exitCode: 2 });
});
