// selectBackupsToPrune: pure, so every rule is checked on hand-made calendars.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectBackupsToPrune, type RetainableBackup } from '../../src/data/retention.js';

function backup(id: string, createdAt: string, verified = true): RetainableBackup {
  return { id, createdAt, verifiedAt: verified ? createdAt : null };
}

const ids = (list: Array<{ id: string }>) => list.map((b) => b.id);
const keptIds = (decision: { keep: Array<{ backup: { id: string } }> }) => decision.keep.map((k) => k.backup.id);

// Every 6 hours from Mon 2026-11-02 00:00 to Sat 2026-11-21 18:00 UTC (80 backups).
function sixHourly(): RetainableBackup[] {
  const list: RetainableBackup[] = [];
  for (let t = Date.UTC(2026, 10, 2); t <= Date.UTC(2026, 10, 21, 18); t += 6 * 3_600_000) {
    const iso = new Date(t).toISOString();
    list.push(backup(iso.slice(0, 13), iso));
  }
  return list;
}
const NOW = new Date('2026-11-21T20:00:00Z'); // a Saturday

test('last N keeps the N newest and nothing else', () => {
  const decision = selectBackupsToPrune(sixHourly(), { last: 3, daily: 0, weekly: 0 }, NOW);
  assert.deepEqual(keptIds(decision), ['2026-11-21T18', '2026-11-21T12', '2026-11-21T06']);
  assert.equal(decision.prune.length, 77);
  assert.ok(decision.keep.every((k) => k.reasons.includes('last')));
});

test('daily D keeps the newest of each of the D UTC days ending today', () => {
  const decision = selectBackupsToPrune(sixHourly(), { last: 0, daily: 3, weekly: 0 }, NOW);
  assert.deepEqual(keptIds(decision), ['2026-11-21T18', '2026-11-20T18', '2026-11-19T18']);
});

test('a day without backups still counts as one of the D days', () => {
  const list = [backup('a', '2026-11-21T01:00:00Z'), backup('b', '2026-11-19T23:00:00Z'), backup('c', '2026-11-18T12:00:00Z')];
  const decision = selectBackupsToPrune(list, { last: 0, daily: 3, weekly: 0 }, NOW);
  // Days 21, 20 (empty), 19: c (the 18th) is outside the window.
  assert.deepEqual(keptIds(decision), ['a', 'b']);
  assert.deepEqual(ids(decision.prune), ['c']);
});

test('weekly W keeps the newest of each ISO week (Monday to Sunday, UTC)', () => {
  const decision = selectBackupsToPrune(sixHourly(), { last: 0, daily: 0, weekly: 3 }, NOW);
  // Weeks starting Mon 16th, Mon 9th, Mon 2nd: newest of each is Sat 21st 18h, Sun 15th 18h, Sun 8th 18h.
  assert.deepEqual(keptIds(decision), ['2026-11-21T18', '2026-11-15T18', '2026-11-08T18']);
  const two = selectBackupsToPrune(sixHourly(), { last: 0, daily: 0, weekly: 2 }, NOW);
  assert.deepEqual(keptIds(two), ['2026-11-21T18', '2026-11-15T18']);
});

test('ISO weeks across a year boundary: Mon 2026-12-28 to Sun 2027-01-03 is one week', () => {
  const list = [backup('sun', '2027-01-03T10:00:00Z'), backup('wed', '2026-12-30T10:00:00Z'), backup('prev-sun', '2026-12-27T10:00:00Z')];
  const decision = selectBackupsToPrune(list, { last: 0, daily: 0, weekly: 1 }, new Date('2027-01-03T23:00:00Z'));
  assert.deepEqual(keptIds(decision), ['sun']);
  const two = selectBackupsToPrune(list, { last: 0, daily: 0, weekly: 2 }, new Date('2027-01-03T23:00:00Z'));
  assert.deepEqual(keptIds(two), ['sun', 'prev-sun']);
});

test('rules combine, each backup listing every reason it is kept for', () => {
  const decision = selectBackupsToPrune(sixHourly(), { last: 2, daily: 2, weekly: 2 }, NOW);
  const reasons = Object.fromEntries(decision.keep.map((k) => [k.backup.id, k.reasons.sort()]));
  assert.deepEqual(reasons, {
    '2026-11-21T18': ['daily', 'last', 'newest-verified', 'weekly'],
    '2026-11-21T12': ['last'],
    '2026-11-20T18': ['daily'],
    '2026-11-15T18': ['weekly'],
  });
  assert.equal(decision.prune.length, 76);
});

test('the newest verified backup is never pruned, even when newer unverified ones fill every rule', () => {
  const list = [
    backup('new-1', '2026-11-21T19:00:00Z', false),
    backup('new-2', '2026-11-21T18:00:00Z', false),
    backup('verified', '2026-11-01T00:00:00Z', true),
    backup('older-verified', '2026-10-01T00:00:00Z', true),
  ];
  const decision = selectBackupsToPrune(list, { last: 1, daily: 1, weekly: 1 }, NOW);
  assert.deepEqual(keptIds(decision), ['new-1', 'verified']);
  assert.deepEqual(decision.keep[1].reasons, ['newest-verified']);
  assert.deepEqual(ids(decision.prune), ['new-2', 'older-verified']);
});

test('protected ids survive any policy, even keep-nothing', () => {
  const list = sixHourly();
  const decision = selectBackupsToPrune(list, { last: 0, daily: 0, weekly: 0 }, NOW, ['2026-11-02T06', '2026-11-10T00']);
  assert.deepEqual(keptIds(decision), ['2026-11-21T18', '2026-11-10T00', '2026-11-02T06']);
  assert.deepEqual(decision.keep.find((k) => k.backup.id === '2026-11-02T06')?.reasons, ['protected']);
});

test('backups dated in the future (a clock that stepped back) and undated ones are kept', () => {
  const list = [backup('future', '2026-11-25T00:00:00Z', false), backup('garbage', 'not a date', false), backup('old', '2026-01-01T00:00:00Z', false)];
  const decision = selectBackupsToPrune(list, { last: 0, daily: 7, weekly: 0 }, NOW);
  assert.deepEqual(Object.fromEntries(decision.keep.map((k) => [k.backup.id, k.reasons])), { future: ['future'], garbage: ['undated'] });
  assert.deepEqual(ids(decision.prune), ['old']);
});

test('the result does not depend on input order, ties broken by id', () => {
  const list = [backup('b', '2026-11-21T10:00:00Z'), backup('a', '2026-11-21T10:00:00Z'), backup('c', '2026-11-20T10:00:00Z')];
  const forward = selectBackupsToPrune(list, { last: 1, daily: 0, weekly: 0 }, NOW);
  const backward = selectBackupsToPrune([...list].reverse(), { last: 1, daily: 0, weekly: 0 }, NOW);
  assert.deepEqual(keptIds(forward), ['b']);
  assert.deepEqual(keptIds(backward), ['b']);
  assert.deepEqual(ids(forward.prune), ids(backward.prune));
});

test('an empty list and a generous policy prune nothing', () => {
  assert.deepEqual(selectBackupsToPrune([], { last: 5, daily: 5, weekly: 5 }, NOW), { keep: [], prune: [] });
  const decision = selectBackupsToPrune(sixHourly(), { last: 1000, daily: 0, weekly: 0 }, NOW);
  assert.equal(decision.prune.length, 0);
});
