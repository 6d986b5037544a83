/** `slipway build`, `releases` and `release show` on the notes example repository, through the real CLI. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createNotesRepo, describeRun, git, listTree, makeSandbox, parseJsonOutput, type Sandbox } from '../helpers/cli.js';

interface BuildJson {
  id: string;
  version: string;
  commit: string;
}

interface ReleaseJson {
  id: string;
  version: string;
  commit: string;
  createdAt: string;
  size: number;
  signed: boolean;
}

// One repository and one store for the whole file: v1 and v2 are built once.
const sandbox: Sandbox = makeSandbox({ after });
let repo: string;
let v1: BuildJson;
let v2: BuildJson;
const HEX64 = /^[0-9a-f]{64}$/;

before(async () => {
  repo = await createNotesRepo(path.join(sandbox.root, 'repo'));
  const first = await sandbox.run(['build', '--ref', 'v1', '--json'], { cwd: repo });
  assert.equal(first.code, 0, describeRun(first));
  v1 = parseJsonOutput<BuildJson>(first);
  const second = await sandbox.run(['build', '--ref', 'v2', '--json'], { cwd: repo });
  assert.equal(second.code, 0, describeRun(second));
  v2 = parseJsonOutput<BuildJson>(second);
});

test('build --json prints exactly { id, version, commit }, and the commit is the tag\'s', () => {
  assert.deepEqual(Object.keys(v1).sort(), ['commit', 'id', 'version']);
  assert.match(v1.id, HEX64);
  assert.equal(v1.version, 'v1');
  assert.equal(v1.commit, git(repo, 'rev-parse', 'v1^{commit}').trim());
  assert.equal(v2.version, 'v2');
  assert.equal(v2.commit, git(repo, 'rev-parse', 'v2^{commit}').trim());
  assert.notEqual(v1.id, v2.id);
});

test('building the same tag again gives the same id and keeps one release per id', async () => {
  const before = parseJsonOutput<ReleaseJson[]>(await sandbox.run(['releases', '--json'], { cwd: repo }));
  const again = await sandbox.run(['build', '--ref', 'v1', '--json'], { cwd: repo });
  assert.equal(again.code, 0, describeRun(again));
  assert.deepEqual(parseJsonOutput<BuildJson>(again), v1);
  // progress goes to stderr, so stdout stays pure JSON
  assert.match(again.stderr, /building notes at v1/);
  const afterward = parseJsonOutput<ReleaseJson[]>(await sandbox.run(['releases', '--json'], { cwd: repo }));
  assert.equal(afterward.length, 2);
  // republishing keeps the first createdAt
  assert.deepEqual(afterward, before);
});

test('releases --json lists every release with the contract fields and types', async () => {
  const result = await sandbox.run(['releases', '--json'], { cwd: repo });
  assert.equal(result.code, 0, describeRun(result));
  const list = parseJsonOutput<ReleaseJson[]>(result);
  assert.ok(Array.isArray(list));
  assert.deepEqual(
    list.map((r) => r.version),
    ['v1', 'v2'],
  );
  for (const item of list) {
    for (const key of ['id', 'version', 'commit', 'createdAt', 'size', 'signed']) assert.ok(key in item, `releases --json item lacks ${key}: ${JSON.stringify(item)}`);
    assert.match(item.id, HEX64);
    assert.equal(typeof item.version, 'string');
    assert.match(item.commit, /^[0-9a-f]{40}$/);
    assert.equal(typeof item.createdAt, 'string');
    assert.ok(!Number.isNaN(Date.parse(item.createdAt)), `createdAt ${item.createdAt} is not a date`);
    assert.ok(Number.isInteger(item.size) && item.size > 0, `size ${item.size}`);
    assert.equal(item.signed, false);
  }
  const byVersion = new Map(list.map((r) => [r.version, r]));
  assert.equal(byVersion.get('v1')?.id, v1.id);
  assert.equal(byVersion.get('v2')?.commit, v2.commit);
  // size is what the release's contents take in the store: at most the packs there, shared between releases
  const packs = path.join(sandbox.home, 'store', 'notes', 'objects', 'packs');
  const packBytes = fs.readdirSync(packs).filter((n) => n.endsWith('.pack')).reduce((sum, n) => sum + fs.statSync(path.join(packs, n)).size, 0);
  assert.ok(byVersion.get('v2')!.size <= packBytes, `size ${byVersion.get('v2')!.size} > ${packBytes} bytes of packs`);
  assert.ok(byVersion.get('v1')!.size + byVersion.get('v2')!.size > packBytes, 'v1 and v2 share no content');
});

test('release show --json gives the store info and the manifest, whose notes mention the migration', async () => {
  const result = await sandbox.run(['release', 'show', 'v2', '--json'], { cwd: repo });
  assert.equal(result.code, 0, describeRun(result));
  const shown = parseJsonOutput<ReleaseJson & { manifest: { version: string; commit: string; notes: string; migrates: boolean; files: Array<{ path: string }> } }>(result);
  assert.equal(shown.id, v2.id);
  assert.equal(shown.manifest.version, 'v2');
  assert.equal(shown.manifest.commit, v2.commit);
  assert.match(shown.manifest.notes, /migration/i);
  assert.equal(shown.manifest.migrates, true);
  assert.ok(shown.manifest.files.some((f) => f.path === 'server.js'));

  // an id prefix finds the same release
  const byPrefix = await sandbox.run(['release', 'show', v2.id.slice(0, 10), '--json'], { cwd: repo });
  assert.equal(byPrefix.code, 0, describeRun(byPrefix));
  assert.equal(parseJsonOutput<ReleaseJson>(byPrefix).id, v2.id);
});

test('release show of an unknown version exits 2 and lists the known ones', async () => {
  const result = await sandbox.run(['release', 'show', 'v9'], { cwd: repo });
  assert.equal(result.code, 2, describeRun(result));
  assert.match(result.stderr, /no release "v9"/);
  assert.match(result.stderr, /known versions: v1, v2/);
  assert.equal(result.stdout, '');
});

test('text outputs of build, releases and release show say what people need', async () => {
  const built = await sandbox.run(['build', '--ref', 'v2'], { cwd: repo });
  assert.equal(built.code, 0, describeRun(built));
  assert.match(built.stdout, /^built notes v2 /);
  assert.ok(built.stdout.includes(v2.id), built.stdout);

  const listed = await sandbox.run(['releases'], { cwd: repo });
  assert.equal(listed.code, 0, describeRun(listed));
  assert.match(listed.stdout, /^VERSION\s+ID\s+COMMIT/);
  assert.match(listed.stdout, new RegExp(`^v1\\s+${v1.id.slice(0, 12)}\\s+${v1.commit.slice(0, 7)}`, 'm'));
  assert.match(listed.stdout, new RegExp(`^v2\\s+${v2.id.slice(0, 12)}`, 'm'));

  const shown = await sandbox.run(['release', 'show', 'v2'], { cwd: repo });
  assert.equal(shown.code, 0, describeRun(shown));
  assert.match(shown.stdout, /^notes v2\n/);
  assert.match(shown.stdout, /migrates\s+yes/);
  assert.match(shown.stdout, /Release notes:\n[\s\S]*Migration/);
});

test('--version names the release and --store puts it in another folder; an empty store lists nothing', async () => {
  const other = path.join(sandbox.root, 'other-store');
  const homeBefore = listTree(sandbox.home);

  const empty = await sandbox.run(['releases', '--json', '--store', other], { cwd: repo });
  assert.equal(empty.code, 0, describeRun(empty));
  assert.deepEqual(parseJsonOutput(empty), []);
  const emptyText = await sandbox.run(['releases', '--store', other], { cwd: repo });
  assert.match(emptyText.stdout, /no releases of notes/);

  const result = await sandbox.run(['build', '--ref', 'v1', '--version', '1.0.0-rc.1', '--store', other, '--json'], { cwd: repo });
  assert.equal(result.code, 0, describeRun(result));
  const built = parseJsonOutput<BuildJson>(result);
  assert.equal(built.version, '1.0.0-rc.1');
  assert.equal(built.commit, v1.commit);
  // the version is part of the manifest, so of the id
  assert.notEqual(built.id, v1.id);
  const listed = parseJsonOutput<ReleaseJson[]>(await sandbox.run(['releases', '--json', '--store', other], { cwd: repo }));
  assert.deepEqual(
    listed.map((r) => [r.id, r.version]),
    [[built.id, '1.0.0-rc.1']],
  );
  assert.deepEqual(listTree(sandbox.home), homeBefore, 'the default store changed');

  const badVersion = await sandbox.run(['build', '--ref', 'v1', '--version', '../x', '--store', other], { cwd: repo });
  assert.equal(badVersion.code, 2, describeRun(badVersion));
  assert.match(badVersion.stderr, /"\.\.\/x" is not a usable version/);
});
