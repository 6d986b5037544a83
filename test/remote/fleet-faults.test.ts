import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { sshdUnavailableReason } from '../helpers/sshd.js';
import { netnsUnavailableReason } from '../helpers/netns.js';
import { createFleet } from '../helpers/fleet-fixture.js';
import { tempDir } from '../helpers/temp-dir.js';

// Issue 6, faults: an unreachable host or a changed host key stops a rollout before
// anything starts; a host whose link is cut mid-rollout stops it, and the hosts
// already updated are rolled back.

const noSshd = sshdUnavailableReason();
const noNetns = noSshd ?? netnsUnavailableReason();

it('refuses to start a rollout when a host is unreachable or its host key changed, and changes nothing', { skip: noSshd ?? false, timeout: 300_000 }, async (t) => {
  const fleet = await createFleet(t, [{ name: 'auth' }, { name: 'app1', dependsOn: ['auth'] }]);
  assert.equal((await fleet.cli(['setup', 'production'])).code, 0);
  const v1 = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(v1.code, 0, v1.stderr);
  const deploymentsBefore = (name: string) => fleet.ledgerDeployments(name).length;
  const before = { auth: deploymentsBefore('auth'), app1: deploymentsBefore('app1') };

  await t.test('an unreachable host', async () => {
    const app1 = fleet.hosts.get('app1')!;
    await app1.sshd.stop();
    const result = await fleet.cli(['deploy', 'production', '--version', 'v2', '--yes']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /cannot reach host app1 .*nothing was started/, result.stderr);
    assert.equal(fleet.ledgerDeployments('auth').length, before.auth, 'auth was not touched');
    assert.equal((await fleet.get('auth', '/version')).body, 'v1');
    assert.equal((await fleet.get('app1', '/version')).body, 'v1');
    const status = await fleet.cli(['status', 'production', '--json']);
    assert.equal(status.code, 1, 'status exits 1 while a host is unreachable');
    const report = JSON.parse(status.stdout);
    assert.match(report.health, /unreachable: app1/);
    assert.equal(report.hosts.find((h: any) => h.host === 'auth').current.version, 'v1');
  });

  await t.test('a changed host key is refused, never accepted', async () => {
    const auth = fleet.hosts.get('auth')!;
    const otherKey = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-otherkey-')), 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const forged = `[${auth.address}]:${auth.sshd.port} ${fs.readFileSync(`${otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
    fs.writeFileSync(fleet.knownHosts, forged);
    fs.rmSync(path.dirname(otherKey), { recursive: true, force: true });
    const result = await fleet.cli(['deploy', 'production', '--version', 'v2', '--yes', '--host', 'auth']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /host key/i, result.stderr);
    assert.match(result.stderr, /nothing was started/, result.stderr);
    assert.equal(fs.readFileSync(fleet.knownHosts, 'utf8'), forged, 'known_hosts is left as it was');
    assert.equal(fleet.ledgerDeployments('auth').length, before.auth, 'auth was not touched');
    assert.equal((await fleet.get('auth', '/version')).body, 'v1');
  });
});

it('stops and rolls back when a host drops off the network mid-rollout', { skip: noNetns ?? false, timeout: 400_000 }, async (t) => {
  const fleet = await createFleet(t, [{ name: 'auth' }, { name: 'app1', dependsOn: ['auth'] }, { name: 'app2', dependsOn: ['auth'], netns: true }]);
  assert.equal((await fleet.cli(['setup', 'production'])).code, 0);
  const v1 = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(v1.code, 0, v1.stderr);
  const app2 = fleet.hosts.get('app2')!;

  let cut = false;
  const result = await fleet.cli(['deploy', 'production', '--version', 'v2', '--yes', '--json'], {
    onStderr: (chunk) => {
      if (!cut && /app2: updating v1 → v2/.test(chunk)) {
        cut = true;
        void app2.netns!.cutLink();
      }
    },
  });
  assert.ok(cut, `the link was cut while app2 updated:\n${result.stderr}`);
  assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
  const summary = JSON.parse(result.stdout);
  assert.equal(summary.failedHost, 'app2');
  assert.match(summary.reason, /lost the SSH connection to app2/);
  const outcome = (name: string) => summary.rows.find((r: any) => r.host === name).outcome;
  assert.equal(outcome('auth'), 'rolled back');
  assert.equal(outcome('app1'), 'rolled back');
  assert.equal(outcome('app2'), 'failed');
  assert.equal((await fleet.get('auth', '/version')).body, 'v1');
  assert.equal((await fleet.get('app1', '/version')).body, 'v1');

  // The link comes back: the host is reachable again and can be put back by hand, as the hint says.
  await app2.netns!.restoreLink();
  const back = await fleet.cli(['rollback', 'production', '--yes', '--host', 'app2', '--to', 'v1']);
  const served = (await fleet.get('app2', '/version')).body;
  assert.ok(back.code === 0 || served === 'v1', `app2 back on v1: ${back.stdout}\n${back.stderr}`);
  assert.equal(served, 'v1');
});

it('setup refuses a host without Node, says what to install, and still sets up the others', { skip: noSshd ?? false, timeout: 120_000 }, async (t) => {
  // A host whose PATH has a shell and uname but no node.
  const bin = tempDir(t, 'slipway-nonode-');
  for (const tool of ['sh', 'uname']) fs.symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), path.join(bin, tool));
  const fleet = await createFleet(t, [{ name: 'ready' }, { name: 'bare', sessionEnv: { PATH: bin } }], { build: false });
  const result = await fleet.cli(['setup', 'production']);
  assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
  const major = process.versions.node.split('.')[0];
  assert.match(result.stderr, new RegExp(`needs Node ${major}`), result.stderr);
  assert.match(result.stderr, new RegExp(`install Node ${major} on the host`), result.stderr);
  assert.match(result.stderr, /ready is set up/, result.stderr);
  assert.ok(fs.existsSync(path.join(fleet.hosts.get('ready')!.root, 'cli', 'current', 'bin', 'slipway.js')), 'the host with Node got slipway');
  assert.ok(!fs.existsSync(path.join(fleet.hosts.get('bare')!.root, 'cli')), 'nothing was sent to the host without Node');
});
