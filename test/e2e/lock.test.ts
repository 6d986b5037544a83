import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { createHostFixture, waitUntil } from '../helpers/host-fixture.js';

// DESIGN.md pipeline step 1: one update at a time; the lock names who, since when
// and why; a lock left by a dead process is detected and can be broken.

it('refuses a second deploy during the watch window, naming the holder; a dead holder’s lock is STALE and can be removed', { timeout: 120_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '6s', build: ['v1', 'v2'] });
  const agent = await host.startAgent();

  const first = host.spawnCli(['deploy', 'production', '--version', 'v1', '--yes', '--reason', 'first install']);
  await first.waitFor(/✓ switch/);

  const second = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  const firstStillRunning = first.child.exitCode === null;
  const lockWhileRunning = await host.cli(['lock', 'status', '--json']);
  const lockText = await host.cli(['lock', 'status']);
  const stillRunningAfterLockStatus = first.child.exitCode === null;
  const firstResult = await first.result;

  assert.equal(firstResult.code, 0, firstResult.stderr);
  assert.ok(firstStillRunning, `the second deploy must fail at once, while the first is still in its watch window; it ended with:\n${second.stderr}`);
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, /locked/i);
  assert.match(second.stderr, /slipway deploy production \(by e2e-test\)/, 'names the holder');
  assert.match(second.stderr, /since \d{4}-\d\d-\d\dT/, 'says since when');
  assert.match(second.stderr, /first install/, 'says why');

  assert.ok(stillRunningAfterLockStatus, 'lock status was read while the first deploy held the lock');
  const info = JSON.parse(lockWhileRunning.stdout);
  assert.equal(info.held, true, lockWhileRunning.stdout);
  assert.equal(info.stale, false);
  assert.equal(info.pid, agent.pid, 'the agent holds the lock');
  assert.equal(info.reason, 'first install');
  assert.match(lockText.stdout, /locked by slipway deploy production \(by e2e-test\).*since .*first install/);

  assert.deepEqual(JSON.parse((await host.cli(['lock', 'status', '--json'])).stdout), { held: false });
  assert.equal((await host.get('/version')).body, 'v1');

  // A lock left by a process that no longer runs.
  const gone = spawnSync(process.execPath, ['-e', '0']);
  const deadPid = gone.pid!;
  const lockFile = path.join(host.hostRoot, 'lock.json');
  writeFileSync(
    lockFile,
    JSON.stringify({ holder: 'slipway deploy production (by someone)', pid: deadPid, hostname: os.hostname(), since: '2026-01-02T03:04:05.000Z', reason: 'interrupted by a power cut', token: 'f'.repeat(32) }),
  );
  const staleText = await host.cli(['lock', 'status']);
  assert.equal(staleText.code, 0);
  assert.match(staleText.stdout, /STALE/);
  assert.match(staleText.stdout, new RegExp(`pid ${deadPid}`));
  const staleJson = JSON.parse((await host.cli(['lock', 'status', '--json'])).stdout);
  assert.equal(staleJson.stale, true);
  assert.equal(staleJson.held, true);

  const blocked = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  assert.equal(blocked.code, 1, `a deploy does not run over a stale lock without the operator:\n${blocked.stderr}`);
  assert.match(blocked.stderr, /stale/i);
  assert.match(blocked.stderr, /lock release --force/, 'the hint says how to break it');
  assert.equal((await host.get('/version')).body, 'v1', 'nothing changed');

  const refused = await host.cli(['lock', 'release']);
  assert.equal(refused.code, 2, 'releasing without --force is a usage error');
  assert.ok(existsSync(lockFile));

  const released = await host.cli(['lock', 'release', '--force']);
  assert.equal(released.code, 0, released.stderr);
  assert.match(released.stdout, new RegExp(`pid ${deadPid}`));
  assert.equal(existsSync(lockFile), false);
  assert.deepEqual(JSON.parse((await host.cli(['lock', 'status', '--json'])).stdout), { held: false });

  // The CLI going away mid-deploy (Ctrl-C, lost SSH) does not stop the update: the agent owns it.
  const abandoned = host.spawnCli(['deploy', 'production', '--version', 'v2', '--yes']);
  await abandoned.waitFor(/✓ switch/);
  abandoned.child.kill('SIGKILL');
  await abandoned.result;
  await waitUntil('the abandoned deploy to finish', async () => JSON.parse((await host.cli(['lock', 'status', '--json'])).stdout).held === false, 60_000);
  assert.equal((await host.get('/version')).body, 'v2');
  const [latest] = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as { to: string; outcome: string }[];
  assert.deepEqual({ to: latest!.to, outcome: latest!.outcome }, { to: 'v2', outcome: 'succeeded' });
});
