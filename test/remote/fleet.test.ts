import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sshdUnavailableReason } from '../helpers/sshd.js';
import { createFleet } from '../helpers/fleet-fixture.js';
import { checkRemoteDataAge } from './remote-data-age.js';

// Issue 6: a 3-host fleet over real SSH. auth is updated before the two apps;
// a failure on the second app rolls back the first app and auth, with their data.

const skip = sshdUnavailableReason();

it('updates a fleet in dependency order over SSH, and rolls it all back when the second app fails', { skip: skip ?? false, timeout: 600_000 }, async (t) => {
  let resent = false;
  const fleet = await createFleet(t, [
    { name: 'app1', dependsOn: ['auth'] },
    { name: 'auth' },
    { name: 'app2', dependsOn: ['auth'] },
  ]);

  const setup = await fleet.cli(['setup', 'production']);
  assert.equal(setup.code, 0, `setup:\n${setup.stdout}\n${setup.stderr}`);
  for (const name of ['auth', 'app1', 'app2']) assert.match(setup.stdout, new RegExp(`${name}: slipway .* \\(bundle sent`), setup.stdout);
  const again = await fleet.cli(['setup', 'production']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((again.stdout.match(/already installed/g) ?? []).length, 3, `a second setup sends nothing:\n${again.stdout}`);

  const v1 = await fleet.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(v1.code, 0, `deploy v1:\n${v1.stdout}\n${v1.stderr}`);
  for (const name of ['auth', 'app1', 'app2']) assert.equal((await fleet.get(name, '/version')).body, 'v1', `${name} serves v1`);

  await t.test('exec runs in the serving release with the app config, on every host or one', async () => {
    const one = await fleet.cli(['exec', 'production', '--host', 'app1', '--', 'node', '-e', 'console.log(JSON.stringify([process.env.SLIPWAY_VERSION, process.cwd(), process.argv[1]]))', 'a b;$(rm -rf /)']);
    assert.equal(one.code, 0, one.stderr);
    const [version, cwd, arg] = JSON.parse(one.stdout) as string[];
    assert.equal(version, 'v1');
    assert.ok(cwd!.startsWith(`${fleet.hosts.get('app1')!.root}/releases/`), cwd);
    assert.equal(arg, 'a b;$(rm -rf /)', 'arguments arrive as written, never through a shell');
    const all = await fleet.cli(['exec', 'production', '--', 'sh', '-c', 'echo "$SLIPWAY_VERSION"']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(all.stdout.trim().split('\n').sort(), ['app1 | v1', 'app2 | v1', 'auth | v1']);
    const failing = await fleet.cli(['exec', 'production', '--host', 'auth', '--', 'false']);
    assert.equal(failing.code, 1);
  });

  await t.test('host-scoped commands run on the hosts', async () => {
    const backups = await fleet.cli(['backups', 'production', '--host', 'auth', '--json']);
    assert.equal(backups.code, 0, backups.stderr);
    assert.ok(Array.isArray(JSON.parse(backups.stdout)) && JSON.parse(backups.stdout).length > 0, backups.stdout);
    const history = await fleet.cli(['history', 'production', '--json']);
    assert.equal(history.code, 0, history.stderr);
    // Issue 17: the contract's array on several hosts too, each item saying which host it is from.
    const deployments = JSON.parse(history.stdout);
    assert.ok(Array.isArray(deployments), history.stdout);
    assert.deepEqual([...new Set(deployments.map((d: any) => d.host))].sort(), ['app1', 'app2', 'auth']);
    for (const d of deployments) for (const field of ['id', 'kind', 'from', 'to', 'outcome', 'startedAt', 'finishedAt', 'steps']) assert.ok(field in d, `${field} in ${JSON.stringify(d)}`);
    assert.equal(deployments.find((d: any) => d.host === 'app2').to, 'v1');
    const startedAt = deployments.map((d: any) => d.startedAt);
    assert.deepEqual(startedAt, [...startedAt].sort().reverse(), 'newest first, as on one host');
    const allBackups = await fleet.cli(['backups', 'production', '--json']);
    assert.equal(allBackups.code, 0, allBackups.stderr);
    const backupList = JSON.parse(allBackups.stdout);
    assert.ok(Array.isArray(backupList), allBackups.stdout);
    assert.deepEqual([...new Set(backupList.map((b: any) => b.host))].sort(), ['app1', 'app2', 'auth']);
    for (const b of backupList) for (const field of ['id', 'release', 'reason', 'createdAt', 'size', 'sha256', 'verifiedAt']) assert.ok(field in b, `${field} in ${JSON.stringify(b)}`);
    const verify = await fleet.cli(['verify', 'production', '--host', 'app2']);
    assert.equal(verify.code, 0, verify.stderr);
    const unknown = await fleet.cli(['verify', 'production', '--host', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no host nope.*\n.*auth, app1, app2|no host nope/, unknown.stderr);
  });

  await t.test('remote environments: data age per host and per environment, the copy promote records, data_copy on the host', () => checkRemoteDataAge(fleet));

  const v2 = await fleet.cli(['deploy', 'production', '--version', 'v2', '--yes', '--json']);
  assert.equal(v2.code, 0, `deploy v2:\n${v2.stdout}\n${v2.stderr}`);
  const summary = JSON.parse(v2.stdout);
  assert.deepEqual(summary.order, ['auth', 'app1', 'app2']);
  assert.ok(summary.rows.every((r: any) => r.outcome === 'updated' && r.from === 'v1' && r.to === 'v2' && r.transfer === 'streamed'), JSON.stringify(summary.rows));
  // The order as the hosts themselves recorded it: each update began after the one before it ended.
  const finished = (name: string) => fleet.ledgerDeployments(name).filter((d) => d.toVersion === 'v2').at(-1)!;
  assert.ok(finished('auth').finishedAt! <= finished('app1').startedAt, 'auth finished before app1 started');
  assert.ok(finished('app1').finishedAt! <= finished('app2').startedAt, 'app1 finished before app2 started');
  for (const name of ['auth', 'app1', 'app2']) assert.equal((await fleet.get(name, '/version')).body, 'v2');

  const status = await fleet.cli(['status', 'production', '--json']);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout);
  assert.equal(report.current.version, 'v2');
  assert.equal(report.health, 'healthy');
  assert.deepEqual(report.hosts.map((h: any) => h.host), ['auth', 'app1', 'app2']);

  // Back to v1 everywhere (with data), then the real test: v2 again, failing on app2.
  const back = await fleet.cli(['rollback', 'production', '--yes', '--with-data']);
  assert.equal(back.code, 0, `rollback:\n${back.stdout}\n${back.stderr}`);
  for (const name of ['auth', 'app1', 'app2']) {
    assert.equal((await fleet.get(name, '/version')).body, 'v1', `${name} serves v1 after the fleet rollback`);
    assert.ok(!fleet.noteColumns(name).includes('words'), `${name} has v1's schema again`);
  }

  fleet.failNextDeploy('app2', true);
  const failing = await fleet.cli(['deploy', 'production', '--version', 'v2', '--yes'], {
    onStderr: (chunk) => void (/release v2 (streamed to|pulled from)/.test(chunk) && (resent = true)),
  });
  assert.equal(resent, false, 'hosts that have the release get nothing sent');
  assert.equal(failing.code, 1, `the rollout fails:\n${failing.stdout}\n${failing.stderr}`);
  assert.match(failing.stdout, /Rollout stopped: app2 failed: .*fail/, failing.stdout);
  assert.match(failing.stdout, /auth\s+v1\s+v2\s+rolled back/, failing.stdout);
  assert.match(failing.stdout, /app1\s+v1\s+v2\s+rolled back/, failing.stdout);
  for (const name of ['auth', 'app1', 'app2']) {
    assert.equal((await fleet.get(name, '/version')).body, 'v1', `${name} serves its previous release`);
    assert.ok(!fleet.noteColumns(name).includes('words'), `${name} has its previous data (v1 schema): ${fleet.noteColumns(name)}`);
  }
  // Reverse order: app1 (updated last) went back before auth.
  const lastOf = (name: string) => fleet.ledgerDeployments(name).at(-1)!;
  // v2 migrated, so each host went back with its data: the ledger says so.
  assert.equal(lastOf('app1').kind, 'rollback-with-data');
  assert.equal(lastOf('auth').kind, 'rollback-with-data');
  assert.ok(lastOf('app1').finishedAt! <= lastOf('auth').startedAt, 'app1 was rolled back before auth');
});
