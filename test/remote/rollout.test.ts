/**
 * runRollout with in-memory drivers: the orchestration alone (order, limits, stop and
 * undo). Every driver call is recorded with one shared sequence counter, so "before"
 * and "at the same time" are read from the record, never from the clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlipwayError } from '../../src/errors.js';
import { orderFleet } from '../../src/remote/fleet-order.js';
import { NO_DATA, NO_RELEASE_YET, runRollout, type HostDriver, type HostState, type RolloutEvent, type RolloutOptions } from '../../src/remote/rollout.js';
import { renderRolloutSummary } from '../../src/remote/rollout-summary.js';
import { expectRejects } from '../helpers/expect-error.js';

type Method = 'status' | 'backup' | 'ensureRelease' | 'deploy' | 'rollback';

interface Call {
  seq: number;
  host: string;
  method: Method;
  phase: 'start' | 'end';
  args?: unknown;
}

interface FakeHost {
  current?: HostState['current'];
  /** Turns of the event loop a deploy takes (so deploys overlap and finish in a chosen order). */
  deployTurns?: number;
  migrated?: boolean;
  transfer?: 'present' | 'pulled' | 'streamed';
  failOn?: Partial<Record<Method, unknown>>;
  progress?: string[];
  /** its release declares no databases or folders: the driver's backup says so instead of failing */
  stateless?: boolean;
}

const TARGET = { id: 'rel-v2', version: '2.0.0' };
const V1 = { id: 'rel-v1', version: '1.0.0' };

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** In-memory hosts sharing one call record; tracks how many deploys run at once. */
function fakeFleet(hosts: Record<string, FakeHost>) {
  const calls: Call[] = [];
  let seq = 0;
  const inFlight = new Map<Method, Set<string>>();
  const maxInFlight = new Map<Method, number>();

  const driverFor = (name: string, spec: FakeHost): HostDriver => {
    const run = async <T>(method: Method, args: unknown, body: () => Promise<T> | T): Promise<T> => {
      calls.push({ seq: seq++, host: name, method, phase: 'start', args });
      const running = inFlight.get(method) ?? new Set<string>();
      inFlight.set(method, running);
      running.add(name);
      maxInFlight.set(method, Math.max(maxInFlight.get(method) ?? 0, running.size));
      try {
        await turn();
        const result = await body();
        if (spec.failOn && method in spec.failOn) throw spec.failOn[method];
        return result;
      } finally {
        running.delete(name);
        calls.push({ seq: seq++, host: name, method, phase: 'end' });
      }
    };
    return {
      name,
      status: () => run('status', undefined, () => ({ current: spec.current === undefined ? V1 : spec.current })),
      backup: () => run('backup', undefined, () => (spec.stateless ? { skipped: `${V1.version}: no databases or folders configured` } : { id: `backup-${name}` })),
      ensureRelease: () => run('ensureRelease', undefined, () => spec.transfer ?? 'pulled'),
      deploy: (onProgress) =>
        run('deploy', undefined, async () => {
          for (const line of spec.progress ?? []) onProgress(line);
          for (let i = 0; i < (spec.deployTurns ?? 1); i++) await turn();
          return { migrated: spec.migrated ?? false };
        }),
      rollback: (options) => run('rollback', options, () => undefined),
    };
  };

  const drivers = new Map(Object.entries(hosts).map(([name, spec]) => [name, driverFor(name, spec)]));
  const of = (method: Method, phase: Call['phase'] = 'start') => calls.filter((c) => c.method === method && c.phase === phase);
  const hostsOf = (method: Method, phase: Call['phase'] = 'start') => of(method, phase).map((c) => c.host);
  const seqOf = (host: string, method: Method, phase: Call['phase']) => {
    const call = calls.find((c) => c.host === host && c.method === method && c.phase === phase);
    assert.ok(call, `${host} had no ${method} ${phase}`);
    return call.seq;
  };
  return { drivers, calls, of, hostsOf, seqOf, maxInFlight: (method: Method) => maxInFlight.get(method) ?? 0 };
}

function rollout(fleet: ReturnType<typeof fakeFleet>, levels: string[][], extra: Partial<RolloutOptions> = {}) {
  const events: RolloutEvent[] = [];
  const done = runRollout({ levels, drivers: fleet.drivers, parallel: 1, target: TARGET, onEvent: (e) => events.push(e), ...extra });
  return done.then((summary) => ({ summary, events }));
}

const outcomes = (rows: { host: string; outcome: string }[]) => Object.fromEntries(rows.map((r) => [r.host, r.outcome]));

/** auth first, then the apps: the fleet of the issue. */
const AUTH_AND_APPS = orderFleet([
  { name: 'auth', services: ['auth'], dependsOn: [] },
  { name: 'app1', services: ['notes'], dependsOn: ['auth'] },
  { name: 'app2', services: ['wiki'], dependsOn: ['auth'] },
  { name: 'app3', services: ['chat'], dependsOn: ['auth'] },
]);

test('a healthy rollout: every host checked, then backed up, then given the release, then updated auth first', async () => {
  const fleet = fakeFleet({ auth: { transfer: 'present' }, app1: {}, app2: {}, app3: { transfer: 'streamed' } });
  const { summary, events } = await rollout(fleet, AUTH_AND_APPS);

  assert.equal(summary.ok, true);
  assert.equal(summary.failedHost, null);
  assert.equal(summary.reason, null);
  assert.deepEqual(summary.order, ['auth', 'app1', 'app2', 'app3']);
  assert.deepEqual(fleet.hostsOf('deploy'), ['auth', 'app1', 'app2', 'app3']);
  assert.deepEqual(summary.target, TARGET);

  // Phases never overlap: the last call of one phase ends before the first of the next starts.
  const lastEnd = (m: Method) => Math.max(...fleet.of(m, 'end').map((c) => c.seq));
  const firstStart = (m: Method) => Math.min(...fleet.of(m).map((c) => c.seq));
  assert.ok(lastEnd('status') < firstStart('backup'));
  assert.ok(lastEnd('backup') < firstStart('ensureRelease'));
  assert.ok(lastEnd('ensureRelease') < firstStart('deploy'));
  assert.equal(fleet.of('status').length, 4);
  assert.equal(fleet.of('backup').length, 4);
  assert.equal(fleet.of('rollback').length, 0);

  // Status checks run all at once, even at parallel 1.
  assert.equal(fleet.maxInFlight('status'), 4);

  assert.deepEqual(
    summary.rows.map((r) => [r.host, r.from, r.to, r.outcome, r.backup, r.transfer]),
    [
      ['auth', '1.0.0', '2.0.0', 'updated', 'backup-auth', 'present'],
      ['app1', '1.0.0', '2.0.0', 'updated', 'backup-app1', 'pulled'],
      ['app2', '1.0.0', '2.0.0', 'updated', 'backup-app2', 'pulled'],
      ['app3', '1.0.0', '2.0.0', 'updated', 'backup-app3', 'streamed'],
    ],
  );
  const types = events.map((e) => e.type);
  assert.deepEqual(
    events.filter((e) => e.type === 'host-started' || e.type === 'host-done').map((e) => `${e.type} ${'host' in e ? e.host : ''}`),
    ['host-started auth', 'host-done auth', 'host-started app1', 'host-done app1', 'host-started app2', 'host-done app2', 'host-started app3', 'host-done app3'],
  );
  assert.ok(types.includes('level-started'));
  for (const event of events) assert.ok(event.message.length > 0 && !event.message.includes('\n'), `one plain line: ${event.message}`);
});

test('parallel 1 never runs two deploys at once', async () => {
  const fleet = fakeFleet({ a: { deployTurns: 3 }, b: { deployTurns: 1 }, c: { deployTurns: 5 }, d: {}, e: { deployTurns: 2 } });
  const { summary } = await rollout(fleet, [['a', 'b', 'c', 'd', 'e']]);
  assert.equal(summary.ok, true);
  assert.equal(fleet.maxInFlight('deploy'), 1);
  assert.equal(fleet.maxInFlight('backup'), 1);
  assert.equal(fleet.maxInFlight('ensureRelease'), 1);
  // Each deploy ends before the next one starts.
  const deploys = fleet.calls.filter((c) => c.method === 'deploy');
  for (let i = 0; i < deploys.length; i += 2) {
    assert.equal(deploys[i]!.phase, 'start');
    assert.equal(deploys[i + 1]!.phase, 'end');
    assert.equal(deploys[i]!.host, deploys[i + 1]!.host);
  }
});

test('parallel N runs at most N at once and never starts a level before the previous one is done', async () => {
  const fleet = fakeFleet({
    auth1: { deployTurns: 1 },
    auth2: { deployTurns: 6 },
    auth3: { deployTurns: 2 },
    app1: { deployTurns: 3 },
    app2: { deployTurns: 1 },
    app3: { deployTurns: 4 },
    app4: {},
    app5: { deployTurns: 2 },
  });
  const levels = [['auth1', 'auth2', 'auth3'], ['app1', 'app2', 'app3', 'app4', 'app5']];
  const { summary } = await rollout(fleet, levels, { parallel: 2 });

  assert.equal(summary.ok, true);
  assert.equal(fleet.maxInFlight('deploy'), 2, 'two at once, never three');
  assert.ok(fleet.maxInFlight('backup') <= 2);
  assert.ok(fleet.maxInFlight('ensureRelease') <= 2);
  const lastAuthEnd = Math.max(...levels[0]!.map((h) => fleet.seqOf(h, 'deploy', 'end')));
  const firstAppStart = Math.min(...levels[1]!.map((h) => fleet.seqOf(h, 'deploy', 'start')));
  assert.ok(lastAuthEnd < firstAppStart, 'every auth host is healthy before any app starts');
  // order = completion order: auth2 is slow, so auth3 (started after auth1 ended) finishes before it.
  assert.deepEqual(summary.order.slice(0, 3), ['auth1', 'auth3', 'auth2']);
  assert.deepEqual(new Set(summary.order), new Set(levels.flat()));
});

test('a failure on the 2nd app stops the rollout: the 1st app then auth are rolled back, the rest never start', async () => {
  const fleet = fakeFleet({
    auth: { current: { id: 'rel-a1', version: '1.4.0' } },
    app1: { current: { id: 'rel-p1', version: '0.9.0' } },
    app2: { failOn: { deploy: new SlipwayError('HEALTH_WINDOW', 'app2 did not stay healthy: /health returned 500') } },
    app3: {},
  });
  const { summary, events } = await rollout(fleet, AUTH_AND_APPS);

  assert.equal(summary.ok, false);
  assert.equal(summary.failedHost, 'app2');
  assert.equal(summary.reason, 'app2 did not stay healthy: /health returned 500');
  assert.deepEqual(summary.order, ['auth', 'app1']);
  assert.deepEqual(fleet.hostsOf('deploy'), ['auth', 'app1', 'app2'], 'app3 never started');
  assert.deepEqual(fleet.hostsOf('rollback'), ['app1', 'auth'], 'reverse order of completion; app2 rolled itself back');
  assert.ok(fleet.seqOf('app2', 'deploy', 'end') < fleet.seqOf('app1', 'rollback', 'start'));
  assert.deepEqual(
    fleet.of('rollback').map((c) => c.args),
    [
      { toVersion: '0.9.0', withData: false },
      { toVersion: '1.4.0', withData: false },
    ],
  );
  assert.deepEqual(outcomes(summary.rows), { auth: 'rolled back', app1: 'rolled back', app2: 'failed', app3: 'not started' });
  assert.equal(summary.rows.find((r) => r.host === 'app2')!.reason, 'app2 did not stay healthy: /health returned 500');
  assert.deepEqual(summary.rows.map((r) => r.host), ['auth', 'app1', 'app2', 'app3'], 'rows in fleet order');

  const stopped = events.find((e) => e.type === 'rollout-stopped');
  assert.ok(stopped && stopped.type === 'rollout-stopped');
  assert.deepEqual(stopped.rollingBack, ['app1', 'auth']);
  assert.deepEqual(
    events.filter((e) => e.type === 'rollback-done').map((e) => ('host' in e ? e.host : '')),
    ['app1', 'auth'],
  );
});

test('rollback restores data only on hosts whose update migrated, to the version each served before', async () => {
  const fleet = fakeFleet({
    auth: { migrated: true, current: { id: 'rel-a3', version: '3.1.0' } },
    app1: { migrated: false },
    app2: { migrated: true, current: null },
    app3: { failOn: { deploy: new Error('connection to app3 lost') } },
  });
  const { summary } = await rollout(fleet, AUTH_AND_APPS);
  assert.equal(summary.failedHost, 'app3');
  assert.deepEqual(
    fleet.of('rollback').map((c) => [c.host, c.args]),
    [
      ['app2', { toVersion: null, withData: true }],
      ['app1', { toVersion: '1.0.0', withData: false }],
      ['auth', { toVersion: '3.1.0', withData: true }],
    ],
  );
  assert.deepEqual(
    summary.rows.map((r) => [r.host, r.migrated]),
    [
      ['auth', true],
      ['app1', false],
      ['app2', true],
      ['app3', undefined],
    ],
  );
});

test('with parallel hosts, hosts in flight finish, no new host starts, and rollback follows completion order', async () => {
  // Level 2 at parallel 3: app1 (slow) and app2 (quick) succeed, app3 fails last; app4 waits for a free slot.
  const fleet = fakeFleet({
    auth: {},
    app1: { deployTurns: 4 },
    app2: { deployTurns: 1 },
    app3: { deployTurns: 8, failOn: { deploy: new Error('app3: health window failed') } },
    app4: {},
  });
  const { summary } = await rollout(fleet, [['auth'], ['app1', 'app2', 'app3', 'app4']], { parallel: 3 });

  // app4 started when app2 finished (a slot was free, nothing had failed yet), so it is part of the rollout.
  assert.deepEqual(summary.order, ['auth', 'app2', 'app4', 'app1']);
  assert.deepEqual(fleet.hostsOf('rollback'), ['app1', 'app4', 'app2', 'auth']);
  assert.deepEqual(outcomes(summary.rows), { auth: 'rolled back', app1: 'rolled back', app2: 'rolled back', app3: 'failed', app4: 'rolled back' });
  const failedAt = fleet.seqOf('app3', 'deploy', 'end');
  assert.ok(fleet.of('deploy').every((c) => c.seq < failedAt), 'no deploy starts after the failure');
  assert.ok(fleet.of('rollback').every((c) => c.seq > failedAt), 'rollbacks wait for the hosts in flight');
});

test('a failure while others are in flight: they finish and are rolled back, nothing new starts', async () => {
  const fleet = fakeFleet({
    app1: { deployTurns: 6 },
    app2: { failOn: { deploy: new Error('app2 refused the release') } },
    app3: {},
    app4: {},
  });
  const { summary } = await rollout(fleet, [['app1', 'app2', 'app3', 'app4']], { parallel: 2 });
  assert.equal(summary.failedHost, 'app2');
  assert.deepEqual(fleet.hostsOf('deploy'), ['app1', 'app2'], 'app3 and app4 never start');
  assert.deepEqual(fleet.hostsOf('rollback'), ['app1'], 'app1 was in flight when app2 failed; it finished and is undone');
  assert.deepEqual(outcomes(summary.rows), { app1: 'rolled back', app2: 'failed', app3: 'not started', app4: 'not started' });
});

test('an unreachable host before the rollout: nothing starts anywhere, the summary names it and why', async () => {
  const fleet = fakeFleet({ auth: {}, app1: { failOn: { status: new Error('ssh: connect to host 10.0.0.7 port 22: Connection refused') } }, app2: {}, app3: {} });
  const { summary, events } = await rollout(fleet, AUTH_AND_APPS);

  assert.equal(summary.ok, false);
  assert.equal(summary.failedHost, 'app1');
  assert.match(summary.reason!, /Connection refused/);
  assert.equal(fleet.of('status').length, 4, 'every host was asked');
  for (const method of ['backup', 'ensureRelease', 'deploy', 'rollback'] as const) assert.equal(fleet.of(method).length, 0, `no ${method} anywhere`);
  assert.deepEqual(outcomes(summary.rows), { auth: 'not started', app1: 'unreachable', app2: 'not started', app3: 'not started' });
  assert.match(summary.rows[1]!.reason!, /Connection refused/);
  assert.deepEqual(summary.order, []);
  assert.ok(events.some((e) => e.type === 'host-unreachable' && e.host === 'app1'));
});

test('two unreachable hosts are both reported; the first in fleet order is the failed host', async () => {
  const fleet = fakeFleet({ auth: {}, app1: {}, app2: { failOn: { status: new Error('timed out') } }, app3: { failOn: { status: 'host key mismatch' } } });
  const { summary } = await rollout(fleet, AUTH_AND_APPS);
  assert.equal(summary.failedHost, 'app2');
  assert.deepEqual(outcomes(summary.rows), { auth: 'not started', app1: 'not started', app2: 'unreachable', app3: 'unreachable' });
  assert.equal(summary.rows[3]!.reason, 'host key mismatch', 'a thrown non-Error is recorded as text');
});

test('a failed backup stops the rollout before any release is sent or deployed; hosts with no release need no backup', async () => {
  const fleet = fakeFleet({
    auth: {},
    app1: { current: null },
    app2: { failOn: { backup: new SlipwayError('BACKUP_VERIFY_FAILED', 'the dump of notes could not be restored into a scratch database') } },
    app3: {},
  });
  const { summary } = await rollout(fleet, AUTH_AND_APPS);

  assert.equal(summary.ok, false);
  assert.equal(summary.failedHost, 'app2');
  assert.equal(summary.reason, 'backup failed: the dump of notes could not be restored into a scratch database');
  assert.equal(fleet.of('deploy').length, 0);
  assert.equal(fleet.of('ensureRelease').length, 0);
  assert.equal(fleet.of('rollback').length, 0);
  assert.deepEqual(fleet.hostsOf('backup'), ['auth', 'app2'], 'app1 has nothing to back up; app3 is not started after the failure');
  assert.deepEqual(outcomes(summary.rows), { auth: 'not started', app1: 'not started', app2: 'failed', app3: 'not started' });
  assert.equal(summary.rows[0]!.backup, 'backup-auth');
  assert.equal(summary.rows[1]!.backup, NO_RELEASE_YET);
  assert.equal(summary.rows[1]!.from, null);
});

test('a host whose release declares no data is skipped by the backup stage, not failed, and the rollout goes on', async () => {
  const fleet = fakeFleet({ auth: { stateless: true }, app1: {}, app2: { stateless: true }, app3: { current: null } });
  const { summary, events } = await rollout(fleet, AUTH_AND_APPS);
  assert.equal(summary.ok, true, JSON.stringify(summary));
  assert.deepEqual(outcomes(summary.rows), { auth: 'updated', app1: 'updated', app2: 'updated', app3: 'updated' });
  assert.deepEqual(
    Object.fromEntries(summary.rows.map((r) => [r.host, r.backup])),
    { auth: NO_DATA, app1: 'backup-app1', app2: NO_DATA, app3: NO_RELEASE_YET },
  );
  const skipped = events.filter((e) => e.type === 'backup-skipped').map((e) => e.message);
  assert.ok(skipped.includes('auth: nothing to back up (1.0.0: no databases or folders configured)'), skipped.join('\n'));
  assert.ok(skipped.includes('app3: no release yet, nothing to back up'), skipped.join('\n'));
});

test('a failed transfer stops the rollout before any deploy', async () => {
  const fleet = fakeFleet({ auth: {}, app1: { failOn: { ensureRelease: new Error('disk full on app1') } }, app2: {}, app3: {} });
  const { summary } = await rollout(fleet, AUTH_AND_APPS);
  assert.equal(summary.failedHost, 'app1');
  assert.equal(summary.reason, 'release transfer failed: disk full on app1');
  assert.equal(fleet.of('deploy').length, 0);
  assert.equal(fleet.of('backup').length, 4, 'every host was backed up first');
  assert.equal(outcomes(summary.rows).app1, 'failed');
});

test('a rollback that fails is recorded, and the other hosts are still rolled back', async () => {
  const fleet = fakeFleet({
    auth: {},
    app1: { failOn: { rollback: new Error('app1: previous slot would not start') } },
    app2: {},
    app3: { failOn: { deploy: new Error('app3 crashed on start') } },
  });
  const { summary, events } = await rollout(fleet, AUTH_AND_APPS);

  assert.deepEqual(fleet.hostsOf('rollback'), ['app2', 'app1', 'auth']);
  assert.deepEqual(outcomes(summary.rows), { auth: 'rolled back', app1: 'rollback failed', app2: 'rolled back', app3: 'failed' });
  assert.equal(summary.rows[1]!.reason, 'app1: previous slot would not start');
  assert.equal(summary.failedHost, 'app3', 'the failed host stays the one that stopped the rollout');
  assert.ok(events.some((e) => e.type === 'rollback-failed' && e.host === 'app1'));
});

test('hosts already on the target are unchanged and skipped, and not rolled back', async () => {
  const fleet = fakeFleet({ auth: { current: TARGET }, app1: {}, app2: { current: TARGET }, app3: { failOn: { deploy: new Error('boom') } } });
  const { summary } = await rollout(fleet, AUTH_AND_APPS);
  assert.deepEqual(fleet.hostsOf('deploy'), ['app1', 'app3']);
  assert.deepEqual(fleet.hostsOf('rollback'), ['app1']);
  assert.deepEqual(outcomes(summary.rows), { auth: 'unchanged', app1: 'rolled back', app2: 'unchanged', app3: 'failed' });
  assert.equal(summary.rows[0]!.from, '2.0.0');
});

test('after a failure, hosts of later levels are not started, even those already on the target', async () => {
  const fleet = fakeFleet({ auth: { failOn: { deploy: new Error('auth failed its health window') } }, app1: { current: TARGET }, app2: {} });
  const { summary, events } = await rollout(fleet, [['auth'], ['app1', 'app2']]);
  assert.deepEqual(outcomes(summary.rows), { auth: 'failed', app1: 'not started', app2: 'not started' });
  assert.deepEqual(fleet.hostsOf('deploy'), ['auth']);
  assert.equal(fleet.of('rollback').length, 0, 'nothing was updated, so nothing is rolled back');
  assert.equal(events.filter((e) => e.type === 'level-started').length, 1, 'the second level never begins');
});

test('a fleet already on the target: nothing deploys and the rollout is ok', async () => {
  const fleet = fakeFleet({ auth: { current: TARGET }, app1: { current: TARGET } });
  const { summary } = await rollout(fleet, [['auth'], ['app1']]);
  assert.equal(summary.ok, true);
  assert.equal(fleet.of('deploy').length, 0);
  assert.deepEqual(outcomes(summary.rows), { auth: 'unchanged', app1: 'unchanged' });
  assert.deepEqual(summary.order, []);
});

test('deploy progress lines become events; a listener that throws does not stop the rollout', async () => {
  const fleet = fakeFleet({ auth: { progress: ['backup verified', 'migrating'] }, app1: {} });
  const seen: RolloutEvent[] = [];
  const summary = await runRollout({
    levels: [['auth'], ['app1']],
    drivers: fleet.drivers,
    parallel: 1,
    target: TARGET,
    onEvent: (event) => {
      seen.push(event);
      throw new Error('stdout closed');
    },
  });
  assert.equal(summary.ok, true);
  assert.deepEqual(
    seen.filter((e) => e.type === 'host-progress').map((e) => e.message),
    ['auth: backup verified', 'auth: migrating'],
  );
});

test('a driver that throws instead of rejecting is handled like a rejection', async () => {
  const fleet = fakeFleet({ auth: {}, app1: {} });
  const app1 = fleet.drivers.get('app1')!;
  fleet.drivers.set('app1', {
    ...app1,
    name: 'app1',
    deploy: () => {
      throw new Error('ssh binary missing');
    },
  });
  const { summary } = await rollout(fleet, [['auth'], ['app1']]);
  assert.equal(summary.failedHost, 'app1');
  assert.equal(summary.reason, 'ssh binary missing');
  assert.deepEqual(outcomes(summary.rows), { auth: 'rolled back', app1: 'failed' });
});

test('options that cannot describe a rollout are refused before any host is contacted', async () => {
  const fleet = fakeFleet({ auth: {}, app1: {} });
  const refused = async (options: Partial<RolloutOptions>, pattern: RegExp) => {
    await expectRejects(rollout(fleet, [['auth'], ['app1']], options), 'ROLLOUT_OPTIONS', { exitCode: 2, message: pattern });
  };
  await refused({ parallel: 0 }, /at least 1/);
  await refused({ parallel: 1.5 }, /at least 1/);
  await refused({ levels: [['auth'], ['app1', 'ghost']] }, /ghost/);
  await refused({ levels: [['auth'], ['auth', 'app1']] }, /"auth" appears twice/);
  assert.equal(fleet.calls.length, 0);
});

test('the summary table lists every host with its versions, outcome and duration, then who stopped it and why', async () => {
  const fleet = fakeFleet({
    auth: {},
    app1: { current: null },
    app2: { failOn: { deploy: new Error('app2 did not pass its health window') } },
    app3: {},
  });
  const { summary } = await rollout(fleet, AUTH_AND_APPS);
  const text = renderRolloutSummary(summary);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^HOST\s+FROM\s+TO\s+OUTCOME\s+DURATION$/);
  const rowOf = (host: string) => lines.find((l) => l.startsWith(`${host} `)) ?? assert.fail(`no row for ${host}:\n${text}`);
  assert.match(rowOf('auth'), /^auth\s+1\.0\.0\s+2\.0\.0\s+rolled back\s+\d+\.\ds$/);
  assert.match(rowOf('app1'), /^app1\s+-\s+2\.0\.0\s+rolled back\s+\d+\.\ds$/);
  assert.match(rowOf('app2'), /^app2\s+1\.0\.0\s+2\.0\.0\s+failed\s+\d+\.\ds$/);
  assert.match(rowOf('app3'), /^app3\s+1\.0\.0\s+2\.0\.0\s+not started\s+0\.0s$/);
  assert.match(text, /Rollout stopped: app2 failed: app2 did not pass its health window/);

  const healthy = await rollout(fakeFleet({ auth: {}, app1: { current: TARGET } }), [['auth'], ['app1']]);
  const healthyText = renderRolloutSummary(healthy.summary);
  assert.match(healthyText, /^auth\s+1\.0\.0\s+2\.0\.0\s+updated/m);
  assert.match(healthyText, /^app1\s+2\.0\.0\s+2\.0\.0\s+unchanged/m);
  assert.match(healthyText, /every host serves 2\.0\.0/);
  assert.doesNotMatch(healthyText, /stopped/);
});

test('the summary names the unreachable host, and a failed rollback gets its own line', async () => {
  const unreachable = await rollout(fakeFleet({ auth: { failOn: { status: new Error('no route to host') } }, app1: {} }), [['auth'], ['app1']]);
  assert.match(renderRolloutSummary(unreachable.summary), /Rollout stopped: auth unreachable: no route to host/);

  const fleet = fakeFleet({ auth: { failOn: { rollback: new Error('restore failed') } }, app1: { failOn: { deploy: new Error('bad release') } } });
  const text = renderRolloutSummary((await rollout(fleet, [['auth'], ['app1']])).summary);
  assert.match(text, /Rollout stopped: app1 failed: bad release/);
  assert.match(text, /^ {2}auth: rollback failed: restore failed$/m);
});
