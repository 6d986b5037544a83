import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlipwayError } from '../../src/errors.js';
import { rollbackOrder, runFleetRollback, type FleetRollbackEvent, type RollbackHost } from '../../src/remote/fleet-rollback.js';

/** A host serving `from` that goes back to `to`, or fails / refuses as told. */
function fakeHost(name: string, o: { from: string; to: string; fail?: Error; calls: string[] }): RollbackHost {
  let serving = o.from;
  return {
    name,
    async status() {
      return { current: { id: `${serving}-id`, version: serving } };
    },
    async rollback(request, onLine) {
      o.calls.push(`${name}:${request.reason}:${request.to ?? '-'}:${request.withData ? 'data' : 'code'}`);
      onLine('switching back');
      if (o.fail) throw o.fail;
      serving = o.to;
    },
  };
}

test('rollbackOrder: reverse dependency order, kept to the selected hosts; none left is HOST_UNKNOWN', () => {
  const levels = [['auth'], ['app1', 'app2']];
  assert.deepEqual(rollbackOrder(levels, ['auth', 'app1', 'app2']), ['app2', 'app1', 'auth']);
  assert.deepEqual(rollbackOrder(levels, ['app1']), ['app1']);
  assert.throws(() => rollbackOrder(levels, []), (e: SlipwayError) => e.code === 'HOST_UNKNOWN' && e.exitCode === 2);
});

test('every host goes back in order; a failure does not stop the others', async () => {
  const calls: string[] = [];
  const events: FleetRollbackEvent[] = [];
  const hosts = new Map<string, RollbackHost>([
    ['app1', fakeHost('app1', { from: 'v2', to: 'v1', calls })],
    ['app2', fakeHost('app2', { from: 'v2', to: 'v1', calls, fail: new Error('agent died') })],
    ['auth', fakeHost('auth', { from: 'v2', to: 'v1', calls })],
  ]);
  const summary = await runFleetRollback({ order: ['app2', 'app1', 'auth'], hosts, request: { to: 'v1' }, onEvent: (e) => events.push(e) });
  assert.deepEqual(calls, ['app2:rollback to v1:v1:code', 'app1:rollback to v1:v1:code', 'auth:rollback to v1:v1:code']);
  assert.equal(summary.ok, false);
  assert.equal(summary.refused, false);
  assert.deepEqual(
    summary.rows.map((r) => [r.host, r.from, r.to, r.outcome, r.reason ?? null]),
    [
      ['app2', 'v2', null, 'failed', 'agent died'],
      ['app1', 'v2', 'v1', 'rolled back', null],
      ['auth', 'v2', 'v1', 'rolled back', null],
    ],
  );
  assert.deepEqual(
    events.filter((e) => e.host === 'app2').map((e) => e.message),
    ['app2: rolling back from v2', '  app2 | switching back', 'app2: rollback failed: agent died'],
  );
});

test('hosts that refuse (exit code 2) change nothing; all refusing is reported as such, with the hint', async () => {
  const calls: string[] = [];
  const refusal = () => new SlipwayError('REMOTE_COMMAND_FAILED', 'took no backup', { exitCode: 2, hint: 'roll back the code only (without --with-data)' });
  const hosts = new Map<string, RollbackHost>([
    ['a', fakeHost('a', { from: 'v2', to: 'v1', calls, fail: refusal() })],
    ['b', fakeHost('b', { from: 'v2', to: 'v1', calls, fail: refusal() })],
  ]);
  const summary = await runFleetRollback({ order: ['a', 'b'], hosts, request: { withData: true, reason: 'bad release' } });
  assert.deepEqual(calls, ['a:bad release:-:data', 'b:bad release:-:data']);
  assert.equal(summary.ok, false);
  assert.equal(summary.refused, true);
  for (const row of summary.rows) {
    assert.equal(row.refused, true);
    assert.equal(row.to, 'v2', 'a refused host still serves what it served');
    assert.equal(row.hint, 'roll back the code only (without --with-data)');
  }
});

test('all hosts rolled back: ok', async () => {
  const calls: string[] = [];
  const hosts = new Map<string, RollbackHost>([['a', fakeHost('a', { from: 'v3', to: 'v2', calls })]]);
  const summary = await runFleetRollback({ order: ['a'], hosts, request: {} });
  assert.deepEqual(calls, ['a:rollback:-:code']);
  assert.equal(summary.ok, true);
  assert.equal(summary.refused, false);
  assert.deepEqual(summary.rows.map((r) => [r.host, r.from, r.to, r.outcome]), [['a', 'v3', 'v2', 'rolled back']]);
});
