// The deps-app example (examples/deps-app): a web app whose build runs `npm ci --offline`
// against dependencies vendored as tarballs. Its installed tree has a hoisted dependency
// (greeting → textcase 1), a nested one (banner bundles textcase 2) and a symbolic link,
// node_modules/.bin/greet → ../greeting/bin/greet.js.
//
// First the example on its own (npm ci in a plain export, migrate, serve), then through
// the real CLI: build v1 and v2 (the build runs npm ci), deploy v1, the link is a link in
// the deployed release, deploy v2 (a migration), verify, roll back, v1 serves.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CLI_PATH, REPO_ROOT, describeRun, runCli, type CliResult } from '../helpers/cli.js';
import { freePort } from '../helpers/free-port.js';
import { killQuietly, processesUnder, startAgentProcess, type AgentProcess } from '../helpers/processes.js';
import { removeTree } from '../helpers/temp-dir.js';
import { appEnv, killRunningApps, repoNodeModules, runNode, startApp, waitForBetterSqlite3, waitForHealthy } from './notes-app-process.js';

const run = promisify(execFile);

type MakeRepo = {
  createDepsAppRepo(dest: string, options?: { port?: number; nodePath?: string; healthWindow?: string }): Promise<{ dir: string; tags: string[] }>;
};

async function makeRepo(dest: string, port: number): Promise<string> {
  const script = (await import(pathToFileURL(path.join(REPO_ROOT, 'examples', 'deps-app', 'make-repo.js')).href)) as MakeRepo;
  const { dir, tags } = await script.createDepsAppRepo(dest, { port, nodePath: repoNodeModules });
  assert.deepEqual(tags, ['v1', 'v2']);
  return dir;
}

/** npm with its cache in the test's folder: nothing read from or written to the user's. */
function npmEnv(root: string): Record<string, string> {
  return { npm_config_cache: path.join(root, 'npm-cache'), npm_config_update_notifier: 'false' };
}

/** What `npm ci` must have made in `dir`: hoisted, nested, and the bin link. */
function assertInstalledTree(dir: string): void {
  const bin = path.join(dir, 'node_modules', '.bin', 'greet');
  assert.ok(lstatSync(bin).isSymbolicLink(), `${bin} should be a symbolic link`);
  assert.equal(readlinkSync(bin), '../greeting/bin/greet.js');
  const version = (rel: string) => (JSON.parse(readFileSync(path.join(dir, rel, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(version('node_modules/textcase'), '1.0.0', 'textcase 1 is hoisted for greeting');
  assert.equal(version('node_modules/banner/node_modules/textcase'), '2.0.0', 'textcase 2 is nested under banner');
  assert.equal(existsSync(path.join(dir, 'node_modules', 'greeting', 'node_modules')), false, 'greeting uses the hoisted textcase');
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, body: { text } };
  }
}

async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return `${res.status} ${await res.text()}`;
}

describe('deps-app on its own: npm ci --offline from vendored tarballs, migrate, serve', { timeout: 5 * 60_000 }, () => {
  let root: string;
  let repo: string;
  before(async () => {
    await waitForBetterSqlite3();
    root = mkdtempSync(path.join(os.tmpdir(), 'slipway-deps-app-'));
    repo = await makeRepo(path.join(root, 'repo'), await freePort());
  });
  after(async () => {
    await killRunningApps();
    if (root) removeTree(root);
  });

  /** A plain export of `tag` with its dependencies installed, as the build would do it. */
  async function install(tag: string): Promise<string> {
    const dir = path.join(root, tag);
    mkdirSync(dir);
    await run('sh', ['-c', `git -C '${repo}' archive ${tag} | tar -x -C '${dir}'`]);
    await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: dir, env: { ...process.env, ...npmEnv(root) } });
    return dir;
  }

  it('v1: the installed tree is hoisted, nested and linked; the bin runs; the app greets through its dependencies', async () => {
    const v1 = await install('v1');
    assertInstalledTree(v1);
    const greet = await run(path.join(v1, 'node_modules', '.bin', 'greet'), ['ada', 'LOVELACE'], { cwd: v1 });
    assert.equal(greet.stdout, 'Hello, Ada Lovelace!\n');

    // data/ is the same folder for both versions, as slipway's shared folder would be.
    const env = appEnv({});
    const migrated = await runNode(v1, 'migrate.js', env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /applied 1 \(001-greetings\.sql\)/);
    const app = await startApp(v1, env);
    try {
      assert.deepEqual(await waitForHealthy(app), { ok: true, version: 'v1', greetings: 0 });
      const hello = await getJson(`${app.url}/hello?name=grace%20hopper`);
      assert.equal(hello.status, 200);
      assert.equal(hello.body.message, 'Hello, Grace Hopper!');
      assert.equal(hello.body.banner, '*** HELLO, GRACE HOPPER! ***', 'banner uses its own textcase 2 (shout)');
    } finally {
      await app.stop();
    }
  });

  it('v2: migration 002 runs once, and v2 records the command line', async () => {
    const v1 = path.join(root, 'v1');
    const v2 = await install('v2');
    assertInstalledTree(v2);
    // Share v1's data folder.
    await run('ln', ['-s', path.join(v1, 'data'), path.join(v2, 'data')]);
    const env = appEnv({});
    const migrated = await runNode(v2, 'migrate.js', env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /applied 1 \(002-greeting-command\.sql\)/);
    assert.match((await runNode(v2, 'migrate.js', env)).stdout, /up to date/);
    const app = await startApp(v2, env);
    try {
      assert.deepEqual(await waitForHealthy(app), { ok: true, version: 'v2', greetings: 1 });
      const hello = await getJson(`${app.url}/hello?name=ada`);
      assert.equal(hello.body.command, 'node_modules/.bin/greet ada');
    } finally {
      await app.stop();
    }
  });
});

describe('deps-app through slipway: build (npm ci) v1 and v2, deploy, the .bin link stays a link, verify, roll back', { timeout: 10 * 60_000 }, () => {
  let root: string;
  let repo: string;
  let home: string;
  let port: number;
  let agent: AgentProcess | undefined;
  const ids = new Map<string, string>();
  let deployedV1 = false;
  let deployedV2 = false;

  const cli = (args: string[], timeoutMs = 180_000): Promise<CliResult> => runCli(args, { cwd: repo, home, env: npmEnv(root), timeoutMs });
  const hostRoot = () => path.join(home, 'hosts', 'deps-app', 'production');

  before(async () => {
    await waitForBetterSqlite3();
    root = mkdtempSync(path.join(os.tmpdir(), 'slipway-deps-app-e2e-'));
    home = path.join(root, 'home');
    mkdirSync(home);
    port = await freePort();
    repo = await makeRepo(path.join(root, 'repo'), port);
  });

  after(async () => {
    await agent?.stop();
    for (const p of processesUnder(root)) killQuietly(p.pid);
    if (root) removeTree(root);
  });

  it('builds v1 and v2; each build runs npm ci offline in the export', async () => {
    for (const tag of ['v1', 'v2']) {
      const built = await cli(['build', '--ref', tag, '--version', tag, '--json']);
      assert.equal(built.code, 0, `slipway build --ref ${tag} failed (releases must keep node_modules/.bin links):\n${describeRun(built)}`);
      const { id, version } = JSON.parse(built.stdout) as { id: string; version: string };
      assert.equal(version, tag);
      ids.set(tag, id);
    }
    const releases = await cli(['releases', '--json']);
    assert.equal(releases.code, 0, describeRun(releases));
    assert.deepEqual((JSON.parse(releases.stdout) as { version: string }[]).map((r) => r.version).sort(), ['v1', 'v2']);
  });

  it('deploys v1: it answers through the proxy, using its dependencies', async () => {
    assert.ok(ids.has('v1'), 'v1 was not built');
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!/^(SLIPWAY_|NODE_OPTIONS$|NODE_TEST_CONTEXT$|FORCE_COLOR$|GIT_DIR$|GIT_WORK_TREE$|GIT_INDEX_FILE$)/.test(key)) env[key] = value;
    }
    agent = await startAgentProcess({ cli: CLI_PATH, cwd: repo, environment: 'production', env: { ...env, SLIPWAY_HOME: home, NO_COLOR: '1', ...npmEnv(root) } });
    const deployed = await cli(['deploy', 'production', '--version', 'v1', '--yes']);
    assert.equal(deployed.code, 0, describeRun(deployed));
    deployedV1 = true;
    assert.equal(await getText(`http://127.0.0.1:${port}/version`), '200 v1');
    const hello = await getJson(`http://127.0.0.1:${port}/hello?name=katherine%20johnson`);
    assert.deepEqual(hello, { status: 200, body: { message: 'Hello, Katherine Johnson!', banner: '*** HELLO, KATHERINE JOHNSON! ***', version: 'v1' } });
  });

  it('the deployed release keeps node_modules/.bin/greet as a symbolic link to ../greeting/bin/greet.js, and it runs', async () => {
    assert.ok(deployedV1, 'v1 is not deployed');
    const current = path.join(hostRoot(), 'current');
    const release = realpathSync(current);
    assert.equal(path.basename(release), ids.get('v1'));
    assertInstalledTree(release);
    // The link resolves inside the release itself, not into the build's temporary export.
    assert.equal(realpathSync(path.join(release, 'node_modules', '.bin', 'greet')), path.join(release, 'node_modules', 'greeting', 'bin', 'greet.js'));
    const greet = await run(path.join(current, 'node_modules', '.bin', 'greet'), ['mary', 'jackson'], { cwd: release });
    assert.equal(greet.stdout, 'Hello, Mary Jackson!\n');
  });

  it('deploys v2 (migration 002), and slipway verify passes', async () => {
    assert.ok(deployedV1 && ids.has('v2'), 'v1 is not deployed or v2 not built');
    const deployed = await cli(['deploy', 'production', '--version', 'v2', '--yes']);
    assert.equal(deployed.code, 0, describeRun(deployed));
    deployedV2 = true;
    // v1's deploy prepared a copy of its folder during its health window; v2's folder is that copy, changed.
    assert.match(deployed.stdout + deployed.stderr, /fetch .*folder made from v1's prepared copy/);
    assert.equal(await getText(`http://127.0.0.1:${port}/version`), '200 v2');
    const hello = await getJson(`http://127.0.0.1:${port}/hello?name=dorothy`);
    assert.equal(hello.body.command, 'node_modules/.bin/greet dorothy');
    assert.ok(lstatSync(path.join(hostRoot(), 'current', 'node_modules', '.bin', 'greet')).isSymbolicLink());

    const verified = await cli(['verify', 'production']);
    assert.equal(verified.code, 0, describeRun(verified));
  });

  it('rolls back: v1 serves again, with the greetings v2 recorded', async () => {
    assert.ok(deployedV2, 'v2 is not deployed');
    const back = await cli(['rollback', 'production', '--yes']);
    assert.equal(back.code, 0, describeRun(back));
    assert.equal(await getText(`http://127.0.0.1:${port}/version`), '200 v1');
    const health = await getJson(`http://127.0.0.1:${port}/healthz`);
    assert.deepEqual(health, { status: 200, body: { ok: true, version: 'v1', greetings: 2 } });
    const status = await cli(['status', 'production', '--json']);
    assert.equal(status.code, 0, describeRun(status));
    const { current } = JSON.parse(status.stdout) as { current: { id: string; version: string } | null };
    assert.equal(current?.id, ids.get('v1'));
    assert.equal(current?.version, 'v1');
    const verified = await cli(['verify', 'production']);
    assert.equal(verified.code, 0, describeRun(verified));
  });
});
