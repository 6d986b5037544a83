import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { PIPELINE_STEPS } from '../../src/config/types.js';
import { isAgentRunning } from '../../src/agent/control-client.js';
import { hostLayout } from '../../src/host/layout.js';
import { runCli } from '../helpers/cli.js';
import { createFleet, type Fleet, type FleetHost } from '../helpers/fleet-fixture.js';
import { heldLock, recordedBackups } from '../helpers/ledger-reads.js';
import { netnsUnavailableReason } from '../helpers/netns.js';
import { sshdUnavailableReason } from '../helpers/sshd.js';
import { waitUntil } from '../helpers/host-fixture.js';
import { startColumn } from './matrix.js';

// Fault matrix, column "network drop (SSH)": the host is a server in a network
// namespace, deployed to over SSH. While its update v1 → v2 is paused at each step,
// its link is cut; the update goes on without the CLI. The CLI must say it lost the
// host; once the link is back the host must be on one complete release, its data
// matching it, its backups verifying, no lock held.

const skip = sshdUnavailableReason() ?? netnsUnavailableReason();

it('the network dropping at every step of an update over SSH', { timeout: 600_000 }, async (t) => {
  const column = startColumn('network-drop');
  try {
    if (skip) {
      column.skipAll('skipped');
      process.stderr.write(`SKIPPED fault column network-drop: ${skip}\n`);
      t.skip(skip);
      return;
    }
    const fleet = await createFleet(t, [{ name: 'app', netns: true }]);
    const host = fleet.hosts.get('app')!;
    const pauseDir = path.join(fleet.dir, 'pause');
    mkdirSync(pauseDir);
    assert.equal((await fleet.cli(['setup', 'production'])).code, 0);
    // The host's agent, as its init system would run it, with the test's pause hook.
    let agent: { child: ChildProcess; exited: Promise<unknown> } | null = null;
    const stopAgent = async () => {
      if (!agent) return;
      // The fleet's own teardown may have stopped it already: its exit is awaited, not waited for again.
      if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
      await agent.exited;
      agent = null;
    };
    t.after(stopAgent);
    const startAgent = async (step: string) => {
      await stopAgent();
      const child = spawn('ip', ['netns', 'exec', host.netns!.netns, process.execPath, path.join(host.root, 'cli', 'current', 'bin', 'slipway.js'), 'agent', '--env', 'production', '--config', path.join(host.root, 'slipway.yml')], {
        cwd: host.root,
        env: { ...process.env, SLIPWAY_HOME: host.root, SLIPWAY_TEST_HOOKS: '1', SLIPWAY_TEST_PAUSE_AT: `before:${step}`, SLIPWAY_TEST_PAUSE_DIR: pauseDir },
        stdio: 'ignore',
      });
      agent = { child, exited: new Promise((resolve) => child.once('exit', resolve)) };
      await waitUntil('the host agent answers', () => isAgentRunning(hostLayout(host.root).agentSocket), 30_000);
    };
    /** lets the next update through the pause at `step` */
    const passThrough = (step: string) => writeFileSync(path.join(pauseDir, `${step}.resume`), '');

    for (const step of PIPELINE_STEPS) {
      await t.test(`network drop at ${step}`, async () => {
        let t0 = performance.now();
        const lap = (what: string) => {
          if (process.env.SLIPWAY_FAULTS_VERBOSE) process.stderr.write(`[network-drop ${step}] ${what}: ${Math.round(performance.now() - t0)} ms\n`);
          t0 = performance.now();
        };
        try {
          await startAgent(step);
          lap('agent started');
          const serving = (await fleet.get('app', '/version')).body;
          if (serving !== 'v1') {
            passThrough(step);
            const reset = await fleet.cli([serving === 'v2' ? 'rollback' : 'deploy', 'production', '--yes', ...(serving === 'v2' ? ['--with-data', '--to', 'v1'] : ['--version', 'v1'])]);
            assert.equal(reset.code, 0, `back to v1 before the case:\n${reset.stdout}\n${reset.stderr}`);
          }
          lap('reset to v1');
          const deploymentsBefore = fleet.ledgerDeployments('app').length;
          const backupsBefore = new Set(backupIds(host));

          const deploy = fleet.cli(['deploy', 'production', '--version', 'v2', '--yes', '--json'], { env: { SLIPWAY_SSH_ALIVE_INTERVAL: '1' } });
          await waitUntil(`the update pauses at ${step}`, () => existsSync(path.join(pauseDir, `${step}.paused`)), 60_000);
          lap('paused');
          await host.netns!.cutLink();
          passThrough(step);
          const result = await deploy;
          assert.equal(result.code, 1, `the CLI fails when it loses the host:\n${result.stdout}\n${result.stderr}`);
          lap('CLI noticed');
          const summary = JSON.parse(result.stdout);
          assert.equal(summary.failedHost, 'app');
          assert.match(summary.reason, /lost the SSH connection to app/);

          // The host finishes (or undoes) the update on its own, link or no link.
          await waitUntil('the host ends its update', () => {
            const all = fleet.ledgerDeployments('app');
            return all.length > deploymentsBefore && all.at(-1)!.finishedAt !== null;
          }, 90_000);
          await host.netns!.restoreLink();
          lap('update ended');
          const cell = await checkInvariant(fleet, host, backupsBefore);
          lap('invariant checked');
          column.record(step, { text: cell, red: false });
        } catch (error) {
          await host.netns!.restoreLink().catch(() => undefined);
          column.record(step, { text: String((error as Error).message).split('\n')[0]!.slice(0, 40), red: true });
          throw error;
        } finally {
          rmSync(path.join(pauseDir, `${step}.resume`), { force: true });
          rmSync(path.join(pauseDir, `${step}.paused`), { force: true });
        }
      });
    }
  } finally {
    column.finish();
  }
});

/** The ids of the host's backups, read from its ledger (an independent look: no CLI start, no SSH session). */
function backupIds(host: FleetHost): string[] {
  return recordedBackups(host.root).map((b) => b.id);
}

/**
 * One complete release serves, its data matches it, every backup of the case verifies, no lock is held.
 * `verify` goes over SSH (the link is back: the CLI reaches the host again); the backups are verified by
 * the host's own slipway, on the host, as its agent would (one SSH session each would only add set-up).
 */
async function checkInvariant(fleet: Fleet, host: FleetHost, backupsBefore: Set<string>): Promise<string> {
  const healthz = await fleet.get('app', '/healthz');
  assert.equal(healthz.status, 200, `the app is healthy: ${healthz.status} ${healthz.body}`);
  assert.equal(heldLock(host.root), null, 'no lock is held');
  const served = (await fleet.get('app', '/version')).body;
  const verify = await fleet.cli(['verify', 'production']);
  assert.equal(verify.code, 0, `verify:\n${verify.stdout}\n${verify.stderr}`);
  const schema = fleet.noteColumns('app').includes('words') ? 'v2' : 'v1';
  assert.equal(schema, served, `the data has the schema of the release served (${served})`);
  for (const id of backupIds(host)) {
    if (backupsBefore.has(id)) continue;
    const verified = await runCli(['backup', 'verify', 'production', id, '--config', path.join(host.root, 'slipway.yml')], { cwd: host.root, home: host.root, timeoutMs: 60_000 });
    assert.equal(verified.code, 0, `backup ${id} taken during the case verifies:\n${verified.stderr}`);
  }
  const latest = fleet.ledgerDeployments('app').at(-1)!;
  assert.ok(latest.outcome === 'succeeded' || latest.outcome === 'rolled-back', JSON.stringify(latest));
  assert.equal(served, latest.outcome === 'succeeded' ? 'v2' : 'v1', 'what serves matches the outcome');
  return latest.outcome === 'succeeded' ? '→v2 deployed (CLI cut off)' : '→v1 rolled back (CLI cut off)';
}
