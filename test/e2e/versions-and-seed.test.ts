import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { createHostFixture, type HostFixture } from '../helpers/host-fixture.js';

// Real releases of the example app through the built CLI: tags of other schemes than
// v1.2, releases ordered by build order when their versions do not compare, the
// refusal of a deploy that is not newer and its two ways out, lowercase config keys,
// and a data folder seeded from the release on the first deploy.

const run = promisify(execFile);

async function deploy(host: HostFixture, version: string, ...extra: string[]): Promise<void> {
  const result = await host.cli(['deploy', 'production', '--version', version, '--yes', ...extra]);
  assert.equal(result.code, 0, `deploy ${version}: ${result.stderr}`);
}

it('release-9 < release-10; a deploy that is not newer is refused with both ways out; --allow-older runs it; build order decides for names', { timeout: 240_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: [] });
  await host.build('v1', 'release-9');
  await host.build('v2', 'release-10');
  await host.startAgent();
  await deploy(host, 'release-9');
  await deploy(host, 'release-10'); // as text, "release-10" sorts before "release-9"
  assert.equal((await host.get('/version')).body, 'v2');

  const older = await host.cli(['deploy', 'production', '--version', 'release-9', '--yes']);
  assert.equal(older.code, 1, older.stdout + older.stderr);
  assert.match(older.stderr, /release-9 is not newer than the running release-10 \(by version\)/);
  assert.match(older.stderr, /slipway rollback production --to release-9/);
  assert.match(older.stderr, /slipway deploy production --version release-9 --allow-older/);
  assert.equal((await host.get('/version')).body, 'v2', 'nothing changed');

  await deploy(host, 'release-9', '--allow-older');
  assert.equal((await host.get('/version')).body, 'v1');
  const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as Array<{ kind: string; to: string; outcome: string; steps: Array<{ name: string }> }>;
  const last = history.find((d) => d.to === 'release-9' && d.outcome === 'succeeded')!;
  assert.equal(last.kind, 'deploy', '--allow-older is a deploy: the normal pipeline');
  assert.ok(last.steps.some((s) => s.name === 'migrate'), 'with its migrate step');

  // Names that are no versions: alpha (v2's code) is built before beta (v1's code, committed a day earlier).
  await host.build('v2', 'alpha');
  await host.build('v1', 'beta');
  await deploy(host, 'alpha');
  await deploy(host, 'beta'); // by commit date it would read as older
  assert.equal((await host.get('/version')).body, 'v1');
  const back = await host.cli(['deploy', 'production', '--version', 'alpha', '--yes']);
  assert.equal(back.code, 1, back.stderr);
  assert.match(back.stderr, /alpha is not newer than the running beta \(the versions do not compare, so by build order in the store\)/);

  // A config key as the app names it, lowercase with __, reaches the app's processes.
  const set = await host.cli(['config', 'production', 'set', 'database__client=sqlite3']);
  assert.equal(set.code, 0, set.stderr);
  const seen = await host.cli(['exec', 'production', '--', 'node', '-e', 'process.stdout.write(String(process.env.database__client))']);
  assert.equal(seen.code, 0, seen.stderr);
  assert.equal(seen.stdout.trim(), 'sqlite3');
  const bad = await host.cli(['config', 'production', 'set', 'database.client=x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /environment variable name: letters, digits and _/);
});

it('a seeded data folder: the first deploy copies what the release ships there; later deploys leave it to the app; verify stays clean', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: [] });
  const git = (...args: string[]) => run('git', args, { cwd: host.repo });
  await git('checkout', '-q', '-B', 'seeded', 'v1');
  const yml = path.join(host.repo, 'slipway.yml');
  writeFileSync(yml, readFileSync(yml, 'utf8').replace('folders: [uploads]', 'folders: [uploads, { path: content, seed: true }]'));
  mkdirSync(path.join(host.repo, 'content', 'themes'), { recursive: true });
  writeFileSync(path.join(host.repo, 'content', 'themes', 'theme.css'), 'body { color: black }\n');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'ship a default theme');
  await git('tag', '-a', 's1', '-m', 's1');
  writeFileSync(path.join(host.repo, 'content', 'themes', 'theme.css'), 'body { color: navy }\n');
  writeFileSync(path.join(host.repo, 'content', 'themes', 'new.css'), 'p {}\n');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'a new theme');
  await git('tag', '-a', 's2', '-m', 's2');
  await host.build('s1');
  await host.build('s2');
  await host.startAgent();

  const shared = path.join(host.hostRoot, 'shared', 'content');
  assert.equal(existsSync(shared), false);
  await deploy(host, 's1');
  assert.equal(readFileSync(path.join(shared, 'themes', 'theme.css'), 'utf8'), 'body { color: black }\n');
  // Making the release read-only never reaches through its link into the app's folder.
  const writable = () => [shared, path.join(shared, 'themes')].filter((dir) => (statSync(dir).mode & 0o200) === 0);
  assert.deepEqual(writable(), [], 'the seeded folder stays writable for the app');
  const verified = await host.cli(['verify', 'production']);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);

  writeFileSync(path.join(shared, 'themes', 'theme.css'), 'body { color: red } /* the user chose */\n');
  await deploy(host, 's2');
  assert.equal(readFileSync(path.join(shared, 'themes', 'theme.css'), 'utf8'), 'body { color: red } /* the user chose */\n', 'never overwritten');
  assert.deepEqual(readdirSync(path.join(shared, 'themes')), ['theme.css'], 'nothing added to an existing folder');
  assert.deepEqual(writable(), [], 'still writable after the second deploy');
  const release = path.join(host.hostRoot, 'releases', host.currentId()!);
  assert.equal(readFileSync(path.join(release, 'content', 'themes', 'theme.css'), 'utf8'), 'body { color: red } /* the user chose */\n', 'the app sees its folder');
  const again = await host.cli(['verify', 'production']);
  assert.equal(again.code, 0, again.stdout + again.stderr);

  const backup = await host.cli(['backup', 'production', '--json']);
  assert.equal(backup.code, 0, backup.stderr);
  assert.ok((JSON.parse(backup.stdout).items as Array<{ name: string }>).some((item) => item.name === 'content'), 'the seeded folder is backed up like any data folder');
});
