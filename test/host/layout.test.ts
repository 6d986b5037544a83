import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultHostRoot, ensureHostLayout, hostLayout, releaseDir } from '../../src/host/layout.js';
import { controlSocketPath, privateRuntimeDir } from '../../src/paths.js';
import { assertTrustedSocket, preparePrivateSocketFolder } from '../../src/agent/socket-trust.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

function modeOf(p: string): number {
  return fs.statSync(p).mode & 0o777;
}

test('hostLayout puts every part of a host under its root', () => {
  const layout = hostLayout('/srv/notes/production');
  assert.equal(layout.root, '/srv/notes/production');
  assert.equal(layout.releasesDir, '/srv/notes/production/releases');
  assert.equal(layout.sharedDir, '/srv/notes/production/shared');
  assert.equal(layout.backupsDir, '/srv/notes/production/backups');
  assert.equal(layout.manifestsDir, '/srv/notes/production/manifests');
  assert.equal(layout.logsDir, '/srv/notes/production/logs');
  assert.equal(layout.runDir, '/srv/notes/production/run');
  assert.equal(layout.currentLink, '/srv/notes/production/current');
  assert.equal(layout.ledgerFile, '/srv/notes/production/ledger.db');
  assert.equal(layout.journalFile, '/srv/notes/production/journal.jsonl');
  assert.equal(layout.lockFile, '/srv/notes/production/lock.json');
  assert.equal(layout.agentSocket, '/srv/notes/production/run/agent.sock');
  assert.equal(layout.agentInfoFile, '/srv/notes/production/run/agent.json');
  assert.equal(layout.envFile, '/srv/notes/production/shared/.env');
  assert.equal(releaseDir(layout, 'ab12'), '/srv/notes/production/releases/ab12');
});

test('a relative root is made absolute', () => {
  assert.equal(hostLayout('hosts/x').root, path.resolve('hosts/x'));
});

test('ensureHostLayout creates the folders with their modes, also over existing ones', async (t) => {
  const root = path.join(tempDir(t), 'host');
  const layout = hostLayout(root);
  // A run/ folder that already exists, too open: it must be narrowed.
  fs.mkdirSync(layout.runDir, { recursive: true, mode: 0o755 });
  fs.chmodSync(layout.runDir, 0o755);
  await ensureHostLayout(layout);
  for (const dir of [layout.root, layout.releasesDir, layout.sharedDir, layout.backupsDir, layout.manifestsDir, layout.logsDir, layout.runDir]) {
    assert.ok(fs.statSync(dir).isDirectory(), dir);
  }
  assert.equal(modeOf(layout.root), 0o750, 'other users see nothing in the host root');
  assert.equal(modeOf(layout.runDir), 0o700);
  assert.equal(modeOf(layout.sharedDir), 0o750);
  assert.equal(modeOf(layout.backupsDir), 0o700);
  // Idempotent.
  await ensureHostLayout(layout);
  assert.equal(modeOf(layout.runDir), 0o700);
});

test('ensureHostLayout narrows a host root open to others to 0750, and leaves a tighter one as it is', async (t) => {
  const dir = tempDir(t);
  for (const [before, after] of [[0o755, 0o750], [0o777, 0o750], [0o770, 0o750], [0o700, 0o700], [0o710, 0o710]] as const) {
    const layout = hostLayout(path.join(dir, `root-${before.toString(8)}`));
    fs.mkdirSync(layout.root);
    fs.chmodSync(layout.root, before);
    await ensureHostLayout(layout);
    assert.equal(modeOf(layout.root), after, `a root of mode ${before.toString(8)}`);
  }
});

test('ensureHostLayout reports a root that is a file', async (t) => {
  const file = path.join(tempDir(t), 'not-a-folder');
  fs.writeFileSync(file, 'x');
  await expectRejects(ensureHostLayout(hostLayout(file)), 'HOST_LAYOUT_UNWRITABLE');
});

test('a socket path too long for sun_path falls back to a hashed name in the private runtime folder, which works', async (t) => {
  const base = tempDir(t);
  const deepRoot = path.join(base, 'x'.repeat(60), 'y'.repeat(60));
  const layout = hostLayout(deepRoot);
  assert.ok(Buffer.byteLength(path.join(layout.runDir, 'agent.sock')) >= 104);
  assert.equal(path.dirname(layout.agentSocket), privateRuntimeDir());
  assert.notEqual(path.dirname(layout.agentSocket), os.tmpdir(), 'never a name in the shared temp folder');
  assert.match(path.basename(layout.agentSocket), /^[0-9a-f]{12}\.sock$/);
  assert.ok(Buffer.byteLength(layout.agentSocket) < 104);
  // Already where the agent listens and the CLI connects: nothing left to move.
  assert.equal(controlSocketPath(layout.agentSocket), layout.agentSocket);
  // Deterministic per root (the CLI and the agent compute it separately), distinct between roots.
  assert.equal(hostLayout(deepRoot).agentSocket, layout.agentSocket);
  assert.notEqual(hostLayout(deepRoot + 'z').agentSocket, layout.agentSocket);
  // agent.json stays in run/: only the socket has the length limit.
  assert.equal(layout.agentInfoFile, path.join(deepRoot, 'run', 'agent.json'));

  // As the agent's control server does before listening (control-server.ts): the folder is made 0700, and checked.
  await preparePrivateSocketFolder(layout.agentSocket);
  const folder = fs.lstatSync(privateRuntimeDir());
  assert.ok(folder.isDirectory());
  assert.equal(folder.mode & 0o777, 0o700);
  assert.equal(folder.uid, process.getuid?.());
  const server = net.createServer();
  t.after(() => {
    server.close();
    fs.rmSync(layout.agentSocket, { force: true });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(layout.agentSocket, resolve);
  });
  assert.ok(fs.statSync(layout.agentSocket).isSocket());
  // The CLI trusts it: its folder and the socket are this user's, writable by no one else.
  await assertTrustedSocket(layout.agentSocket);
});

test('a short root keeps the socket in run/ and it can be listened on', async (t) => {
  const layout = hostLayout(path.join(tempDir(t), 'h'));
  assert.equal(layout.agentSocket, path.join(layout.runDir, 'agent.sock'));
  await ensureHostLayout(layout);
  const server = net.createServer();
  t.after(() => server.close());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(layout.agentSocket, resolve);
  });
  assert.ok(fs.statSync(layout.agentSocket).isSocket());
});

test('defaultHostRoot lives under SLIPWAY_HOME/hosts/<app>/<env>', (t) => {
  const home = tempDir(t);
  const saved = process.env.SLIPWAY_HOME;
  process.env.SLIPWAY_HOME = home;
  t.after(() => {
    if (saved === undefined) delete process.env.SLIPWAY_HOME;
    else process.env.SLIPWAY_HOME = saved;
  });
  assert.equal(defaultHostRoot('notes', 'production'), path.join(home, 'hosts', 'notes', 'production'));
  expectThrows(() => defaultHostRoot('notes', '../etc'), 'HOST_NAME_INVALID');
});

test('releaseDir refuses ids that would leave releases/', () => {
  const layout = hostLayout('/srv/h');
  for (const bad of ['..', '../x', 'a/b', '', '.hidden', 'a\0b']) {
    expectThrows(() => releaseDir(layout, bad), 'HOST_RELEASE_ID_INVALID', { context: JSON.stringify(bad) });
  }
});
