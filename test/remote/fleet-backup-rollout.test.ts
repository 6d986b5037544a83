/**
 * Issue 17, the rollout's side: the backup it takes of each host first is handed to that
 * host's update, and the summary says whether each update used it. Drivers here are plain
 * objects; fleet-backup.test.ts runs the same over SSH against real hosts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRollout, type HostDriver } from '../../src/remote/rollout.js';
import { renderRolloutSummary } from '../../src/remote/rollout-summary.js';

const TARGET = { id: 'b'.repeat(64), version: '2.0.0' };

function driver(name: string, o: { backup: { id: string } | { skipped: string } | null; uses: boolean }): HostDriver & { offered: (string | null)[] } {
  const offered: (string | null)[] = [];
  return {
    name,
    offered,
    status: async () => ({ current: o.backup === null ? null : { id: 'a'.repeat(64), version: '1.0.0' } }),
    backup: async () => o.backup!,
    ensureRelease: async () => 'present',
    deploy: async (_progress, { backup }) => {
      offered.push(backup);
      return backup ? { migrated: true, backupReused: o.uses } : { migrated: false };
    },
    rollback: async () => {},
  };
}

test("each host's update is offered the backup the rollout took of it; hosts with nothing backed up are offered none", async () => {
  const drivers = {
    auth: driver('auth', { backup: { id: '20261202T070000Z-aaaaaa' }, uses: true }),
    app1: driver('app1', { backup: { id: '20261202T070001Z-bbbbbb' }, uses: false }),
    web: driver('web', { backup: { skipped: 'no databases or folders configured' }, uses: false }),
    fresh: driver('fresh', { backup: null, uses: false }),
  };
  const events: string[] = [];
  const summary = await runRollout({ levels: [['auth'], ['app1', 'web', 'fresh']], drivers: new Map(Object.entries(drivers)), parallel: 1, target: TARGET, onEvent: (e) => events.push(e.message) });
  assert.equal(summary.ok, true);
  assert.deepEqual(drivers.auth.offered, ['20261202T070000Z-aaaaaa']);
  assert.deepEqual(drivers.app1.offered, ['20261202T070001Z-bbbbbb']);
  assert.deepEqual(drivers.web.offered, [null], 'a stateless host has no backup to offer');
  assert.deepEqual(drivers.fresh.offered, [null], 'nor a host with nothing deployed');
  const row = (host: string) => summary.rows.find((r) => r.host === host)!;
  assert.equal(row('auth').backupReused, true);
  assert.equal(row('app1').backupReused, false);
  assert.equal('backupReused' in row('web'), false);
  assert.ok(events.some((m) => /^auth: 2\.0\.0 serving and healthy \([\d.]+s; its backup: 20261202T070000Z-aaaaaa, taken first\)$/.test(m)), events.join('\n'));
  assert.ok(events.some((m) => /^app1: 2\.0\.0 serving and healthy \([\d.]+s; it took a fresh backup\)$/.test(m)), events.join('\n'));
  assert.ok(events.some((m) => /^web: 2\.0\.0 serving and healthy \([\d.]+s\)$/.test(m)), events.join('\n'));

  const text = renderRolloutSummary(summary);
  assert.match(text, /^HOST\s+FROM\s+TO\s+OUTCOME\s+DURATION$/m);
  assert.match(text, /^Backups taken first:\n {2}auth {2}20261202T070000Z-aaaaaa {2}the update's own \(not backed up again\)\n {2}app1 {2}20261202T070001Z-bbbbbb {2}not used: the update took a fresh one \(see its backup step\)\n\n/m, text);
  assert.doesNotMatch(text, /^ {2}web /m);
  assert.match(text, /Rollout finished: every host serves 2\.0\.0\./);
});

test('a rollout whose hosts have nothing backed up prints no backup lines', async () => {
  const summary = await runRollout({ levels: [['web']], drivers: new Map([['web', driver('web', { backup: { skipped: 'no data' }, uses: false })]]), parallel: 1, target: TARGET });
  assert.doesNotMatch(renderRolloutSummary(summary), /Backups taken first/);
});
