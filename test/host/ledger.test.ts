import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { LEDGER_SCHEMA_VERSION, openLedger, type Ledger, type StartDeployment } from '../../src/host/ledger.js';

function tempLedgerFile(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'ledger.db');
}

function opened(t: { after(fn: () => void): void }, file: string, options?: { readonly?: boolean }): Ledger {
  const ledger = openLedger(file, options);
  t.after(() => ledger.close());
  return ledger;
}

const deployV1toV2: StartDeployment = {
  kind: 'deploy',
  fromId: 'id-one',
  toId: 'id-two',
  fromVersion: 'v1',
  toVersion: 'v2',
  reason: 'release notes say bugfixes',
  who: 'alice',
};

test('a deployment and its steps round-trip, repeated and never-started steps included', (t) => {
  const ledger = opened(t, tempLedgerFile(t));
  const id = ledger.startDeployment(deployV1toV2);
  ledger.startStep(id, 'lock');
  ledger.finishStep(id, 'lock', { outcome: 'done' });
  ledger.startStep(id, 'start');
  ledger.finishStep(id, 'start', { outcome: 'failed', detail: 'health check timed out' });
  ledger.startStep(id, 'start'); // a retry: its own row
  ledger.finishStep(id, 'start', { outcome: 'done' });
  ledger.finishStep(id, 'maintenance', { outcome: 'skipped', detail: 'no migration' });
  ledger.startStep(id, 'watch'); // never finished
  ledger.finishDeployment(id, { outcome: 'failed', error: 'watch window failed' });

  const [d] = ledger.listDeployments({ limit: 10 });
  assert.equal(d.id, id);
  assert.equal(d.kind, 'deploy');
  assert.equal(d.fromId, 'id-one');
  assert.equal(d.toVersion, 'v2');
  assert.equal(d.reason, 'release notes say bugfixes');
  assert.equal(d.who, 'alice');
  assert.equal(d.outcome, 'failed');
  assert.equal(d.error, 'watch window failed');
  assert.ok(d.finishedAt !== null && Date.parse(d.finishedAt) >= Date.parse(d.startedAt));
  assert.deepEqual(
    d.steps.map((s) => [s.name, s.outcome, s.detail]),
    [
      ['lock', 'done', null],
      ['start', 'failed', 'health check timed out'],
      ['start', 'done', null],
      ['maintenance', 'skipped', 'no migration'],
      ['watch', null, null],
    ],
  );
  for (const s of d.steps.slice(0, 4)) assert.ok(Number.isInteger(s.ms) && (s.ms as number) >= 0);
  assert.equal(d.steps[3].ms, 0);
  assert.equal(d.steps[4].ms, null);
  assert.equal(d.steps[4].finishedAt, null);
  assert.deepEqual(ledger.getDeployment(id), d);
});

test('history() has exactly the contract shape, newest first', (t) => {
  const ledger = opened(t, tempLedgerFile(t));
  const first = ledger.startDeployment({ ...deployV1toV2, fromId: null, fromVersion: null, toVersion: 'v1', toId: 'id-one' });
  ledger.startStep(first, 'fetch');
  ledger.finishStep(first, 'fetch', { outcome: 'done' });
  ledger.finishDeployment(first, { outcome: 'succeeded' });
  const second = ledger.startDeployment({ ...deployV1toV2, kind: 'rollback' });
  ledger.finishDeployment(second, { outcome: 'rolled-back' });
  const running = ledger.startDeployment(deployV1toV2);

  const history = ledger.history(10);
  assert.deepEqual(history.map((h) => h.id), [running, second, first]);
  for (const entry of history) {
    assert.deepEqual(Object.keys(entry).sort(), ['finishedAt', 'from', 'id', 'outcome', 'startedAt', 'steps', 'to']);
  }
  const oldest = history[2];
  assert.equal(oldest.from, null);
  assert.equal(oldest.to, 'v1');
  assert.equal(oldest.outcome, 'succeeded');
  assert.equal(typeof oldest.startedAt, 'string');
  assert.equal(oldest.steps.length, 1);
  assert.deepEqual(Object.keys(oldest.steps[0]).sort(), ['ms', 'name', 'outcome']);
  assert.equal(oldest.steps[0].name, 'fetch');
  assert.equal(oldest.steps[0].outcome, 'done');
  assert.equal(typeof oldest.steps[0].ms, 'number');
  assert.equal(history[1].outcome, 'rolled-back');
  assert.equal(history[0].outcome, null);
  assert.equal(history[0].finishedAt, null);
  // It serializes as-is (what `slipway history --json` prints).
  assert.deepEqual(JSON.parse(JSON.stringify(history)), history);
  assert.equal(ledger.history(1).length, 1);
});

test('unfinishedDeployment finds the latest deployment that never finished', (t) => {
  const ledger = opened(t, tempLedgerFile(t));
  assert.equal(ledger.unfinishedDeployment(), null);
  const id = ledger.startDeployment(deployV1toV2);
  ledger.startStep(id, 'migrate');
  const unfinished = ledger.unfinishedDeployment();
  assert.equal(unfinished?.id, id);
  assert.deepEqual(unfinished?.steps.map((s) => [s.name, s.outcome]), [['migrate', null]]);
  ledger.finishDeployment(id, { outcome: 'succeeded' });
  assert.equal(ledger.unfinishedDeployment(), null);
  assert.throws(() => ledger.finishDeployment(id, { outcome: 'failed' }), { code: 'HOST_LEDGER_DEPLOYMENT_FINISHED' });
  assert.throws(() => ledger.finishDeployment(999, { outcome: 'failed' }), { code: 'HOST_LEDGER_NO_DEPLOYMENT' });
  assert.throws(() => ledger.startStep(999, 'lock'), { code: 'HOST_LEDGER_NO_DEPLOYMENT' });
});

test('setCurrent sets current and previous together', (t) => {
  const ledger = opened(t, tempLedgerFile(t));
  assert.deepEqual(ledger.getState(), { currentId: null, previousId: null });
  ledger.setCurrent({ currentId: 'id-one', previousId: null });
  assert.deepEqual(ledger.getState(), { currentId: 'id-one', previousId: null });
  ledger.setCurrent({ currentId: 'id-two', previousId: 'id-one' });
  assert.deepEqual(ledger.getState(), { currentId: 'id-two', previousId: 'id-one' });
  ledger.setStateValue('active-slot', 'blue');
  assert.equal(ledger.getStateValue('active-slot'), 'blue');
  assert.equal(ledger.getStateValue('nothing'), null);
});

test('releases: record, find by version (newest unpacked), list, remove', (t) => {
  const ledger = opened(t, tempLedgerFile(t));
  ledger.recordRelease({ id: 'r1', version: 'v1', commit: 'c1', manifestJson: '{"v":1}', unpackedAt: '2025-01-01T00:00:00.000Z' });
  ledger.recordRelease({ id: 'r2', version: 'v2', commit: 'c2', manifestJson: '{"v":2}', unpackedAt: '2025-01-02T00:00:00.000Z' });
  // The same version rebuilt (a different id), unpacked later.
  ledger.recordRelease({ id: 'r2b', version: 'v2', commit: 'c2', manifestJson: '{"v":22}', unpackedAt: '2025-01-03T00:00:00.000Z' });
  assert.deepEqual(ledger.getRelease('r1'), { id: 'r1', version: 'v1', commit: 'c1', manifestJson: '{"v":1}', unpackedAt: '2025-01-01T00:00:00.000Z' });
  assert.equal(ledger.getRelease('missing'), null);
  assert.equal(ledger.findReleaseByVersion('v2')?.id, 'r2b');
  assert.equal(ledger.findReleaseByVersion('v9'), null);
  assert.deepEqual(ledger.listReleases().map((r) => r.id), ['r2b', 'r2', 'r1']);
  // Recording again updates instead of failing.
  ledger.recordRelease({ id: 'r1', version: 'v1', commit: 'c1', manifestJson: '{"v":1}', unpackedAt: '2025-01-04T00:00:00.000Z' });
  assert.equal(ledger.listReleases()[0].id, 'r1');
  assert.equal(ledger.removeRelease('r2b'), true);
  assert.equal(ledger.removeRelease('r2b'), false);
  assert.equal(ledger.findReleaseByVersion('v2')?.id, 'r2');
  const recorded = ledger.getRelease('r2');
  assert.ok(recorded);
  ledger.recordRelease({ id: 'r3', version: 'v3', commit: 'c3', manifestJson: '{}' });
  assert.ok(Date.parse(ledger.getRelease('r3')!.unpackedAt) > 0);
});

test('reopening after close keeps everything, and the schema is versioned', (t) => {
  const file = tempLedgerFile(t);
  const first = openLedger(file);
  const id = first.startDeployment(deployV1toV2);
  first.startStep(id, 'lock');
  first.finishStep(id, 'lock', { outcome: 'done' });
  first.setCurrent({ currentId: 'id-two', previousId: 'id-one' });
  first.recordRelease({ id: 'id-two', version: 'v2', commit: 'c', manifestJson: '{}' });
  first.close();

  const again = opened(t, file);
  assert.deepEqual(again.getState(), { currentId: 'id-two', previousId: 'id-one' });
  assert.equal(again.getRelease('id-two')?.version, 'v2');
  assert.equal(again.unfinishedDeployment()?.steps[0].outcome, 'done');
  // New ids continue after the old ones.
  assert.ok(again.startDeployment(deployV1toV2) > id);

  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  assert.equal((raw.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number }).v, LEDGER_SCHEMA_VERSION);
  assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
});

test('a read-only ledger reads while another connection holds a write transaction', (t) => {
  const file = tempLedgerFile(t);
  const writer = opened(t, file);
  const id = writer.startDeployment(deployV1toV2);

  const other = new Database(file);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  other.prepare(`UPDATE deployments SET outcome = 'succeeded', finished_at = '2030-01-01T00:00:00.000Z' WHERE id = ?`).run(id);

  const reader = opened(t, file, { readonly: true });
  // The uncommitted write is invisible, and reading does not wait for it.
  assert.equal(reader.unfinishedDeployment()?.id, id);
  assert.equal(reader.history(5)[0].outcome, null);
  assert.throws(() => reader.setCurrent({ currentId: 'x', previousId: null }), { code: 'HOST_LEDGER_READONLY' });

  other.exec('COMMIT');
  assert.equal(reader.unfinishedDeployment(), null);
  assert.equal(reader.history(5)[0].outcome, 'succeeded');
  writer.setCurrent({ currentId: 'id-two', previousId: 'id-one' });
  assert.deepEqual(reader.getState(), { currentId: 'id-two', previousId: 'id-one' });
});

test('read-only open of a missing ledger is refused clearly and creates nothing', (t) => {
  const file = tempLedgerFile(t);
  assert.throws(() => openLedger(file, { readonly: true }), { code: 'HOST_LEDGER_MISSING' });
  assert.ok(!fs.existsSync(file));
});

test('a ledger from a newer slipway is refused', (t) => {
  const file = tempLedgerFile(t);
  openLedger(file).close();
  const raw = new Database(file);
  raw.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(LEDGER_SCHEMA_VERSION + 1, new Date().toISOString());
  raw.close();
  assert.throws(() => openLedger(file), { code: 'HOST_LEDGER_TOO_NEW' });
  assert.throws(() => openLedger(file, { readonly: true }), { code: 'HOST_LEDGER_TOO_NEW' });
});

test('a file that is not a database is reported, not crashed on', (t) => {
  const file = tempLedgerFile(t);
  fs.writeFileSync(file, 'this is not sqlite '.repeat(100));
  assert.throws(() => openLedger(file), { code: 'HOST_LEDGER_UNREADABLE' });
});
