import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { LEDGER_SCHEMA_VERSION, openLedger, type Ledger, type StartDeployment } from '../../src/host/ledger.js';
import { readCurrentRelease } from '../../src/plan/gather.js';
import { releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import { release } from '../plan/releases.js';
import { createLedgerAtVersion } from '../helpers/old-ledger.js';
import { expectThrows } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

function tempLedgerFile(t: { after(fn: () => void): void }): string {
  const dir = tempDir(t);
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

test("a step's rows are committed without a sync of their own; every other write still syncs", (t) => {
  const file = tempLedgerFile(t);
  const ledger = opened(t, file);
  const synchronous = () => (ledger as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true });
  assert.equal(synchronous(), 2, 'FULL once opened');
  const id = ledger.startDeployment(deployV1toV2);
  ledger.startStep(id, 'lock');
  assert.equal(synchronous(), 2, 'back to FULL after a started step');
  ledger.finishStep(id, 'lock', { outcome: 'done' });
  ledger.finishStep(id, 'backup', { outcome: 'skipped', detail: 'nothing to back up' });
  assert.equal(synchronous(), 2, 'back to FULL after a finished step');
  // A failing write puts it back too.
  assert.throws(() => ledger.startStep(id + 1000, 'lock'));
  assert.equal(synchronous(), 2, 'back to FULL after a step row that failed');

  // Committed: another connection (the CLI's history) reads them at once.
  const reader = new Database(file, { readonly: true });
  t.after(() => reader.close());
  const rows = reader.prepare('SELECT name, outcome FROM deployment_steps WHERE deployment_id = ? ORDER BY id').all(id);
  assert.deepEqual(rows, [
    { name: 'lock', outcome: 'done' },
    { name: 'backup', outcome: 'skipped' },
  ]);
});

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
    assert.deepEqual(Object.keys(entry).sort(), ['finishedAt', 'from', 'id', 'kind', 'outcome', 'startedAt', 'steps', 'to']);
  }
  assert.deepEqual(history.map((h) => h.kind), ['deploy', 'rollback', 'deploy']);
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
  expectThrows(() => ledger.finishDeployment(id, { outcome: 'failed' }), 'HOST_LEDGER_DEPLOYMENT_FINISHED');
  expectThrows(() => ledger.finishDeployment(999, { outcome: 'failed' }), 'HOST_LEDGER_NO_DEPLOYMENT');
  expectThrows(() => ledger.startStep(999, 'lock'), 'HOST_LEDGER_NO_DEPLOYMENT');
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
  ledger.recordRelease({ id: 'r1', version: 'v1', commit: 'c1', unpackedAt: '2025-01-01T00:00:00.000Z' });
  ledger.recordRelease({ id: 'r2', version: 'v2', commit: 'c2', unpackedAt: '2025-01-02T00:00:00.000Z' });
  // The same version rebuilt (a different id), unpacked later.
  ledger.recordRelease({ id: 'r2b', version: 'v2', commit: 'c2', unpackedAt: '2025-01-03T00:00:00.000Z' });
  // The record is the id and small facts: the manifest is in manifests/<id>.json.
  assert.deepEqual(ledger.getRelease('r1'), { id: 'r1', version: 'v1', commit: 'c1', unpackedAt: '2025-01-01T00:00:00.000Z' });
  assert.equal(ledger.getRelease('missing'), null);
  assert.equal(ledger.findReleaseByVersion('v2')?.id, 'r2b');
  assert.equal(ledger.findReleaseByVersion('v9'), null);
  assert.deepEqual(ledger.listReleases().map((r) => r.id), ['r2b', 'r2', 'r1']);
  // Recording again updates instead of failing.
  ledger.recordRelease({ id: 'r1', version: 'v1', commit: 'c1', unpackedAt: '2025-01-04T00:00:00.000Z' });
  assert.equal(ledger.listReleases()[0].id, 'r1');
  assert.equal(ledger.removeRelease('r2b'), true);
  assert.equal(ledger.removeRelease('r2b'), false);
  assert.equal(ledger.findReleaseByVersion('v2')?.id, 'r2');
  const recorded = ledger.getRelease('r2');
  assert.ok(recorded);
  ledger.recordRelease({ id: 'r3', version: 'v3', commit: 'c3' });
  assert.ok(Date.parse(ledger.getRelease('r3')!.unpackedAt) > 0);
});

test('reopening after close keeps everything, and the schema is versioned', (t) => {
  const file = tempLedgerFile(t);
  const first = openLedger(file);
  const id = first.startDeployment(deployV1toV2);
  first.startStep(id, 'lock');
  first.finishStep(id, 'lock', { outcome: 'done' });
  first.setCurrent({ currentId: 'id-two', previousId: 'id-one' });
  first.recordRelease({ id: 'id-two', version: 'v2', commit: 'c' });
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
  expectThrows(() => reader.setCurrent({ currentId: 'x', previousId: null }), 'HOST_LEDGER_READONLY');

  other.exec('COMMIT');
  assert.equal(reader.unfinishedDeployment(), null);
  assert.equal(reader.history(5)[0].outcome, 'succeeded');
  writer.setCurrent({ currentId: 'id-two', previousId: 'id-one' });
  assert.deepEqual(reader.getState(), { currentId: 'id-two', previousId: 'id-one' });
});

test('the ledger and its -wal/-shm are mode 0600, whatever the umask; wider ones left by an earlier version are narrowed', (t) => {
  const file = tempLedgerFile(t);
  const modeOf = (f: string) => fs.statSync(f).mode & 0o777;
  // With no umask, SQLite alone would make them 0644: readable by every user of the machine.
  const umask = process.umask(0);
  let ledger: Ledger;
  try {
    ledger = openLedger(file);
    ledger.startDeployment(deployV1toV2);
  } finally {
    process.umask(umask);
  }
  for (const each of [file, `${file}-wal`, `${file}-shm`]) assert.equal(modeOf(each), 0o600, path.basename(each));
  ledger.close();

  // A ledger from before: the files readable by others.
  const older = path.join(tempDir(t), 'ledger.db');
  const db = new Database(older);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE leftover (x)');
  for (const each of [older, `${older}-wal`, `${older}-shm`]) fs.chmodSync(each, 0o644);
  const reopened = opened(t, older);
  for (const each of [older, `${older}-wal`, `${older}-shm`]) assert.equal(modeOf(each), 0o600, `${path.basename(each)} narrowed`);
  assert.equal(reopened.readonly, false);
  db.close();
});

test('read-only open of a missing ledger is refused clearly and creates nothing', (t) => {
  const file = tempLedgerFile(t);
  expectThrows(() => openLedger(file, { readonly: true }), 'HOST_LEDGER_MISSING');
  assert.ok(!fs.existsSync(file));
});

test('a ledger from a newer slipway is refused', (t) => {
  const file = tempLedgerFile(t);
  openLedger(file).close();
  const raw = new Database(file);
  raw.prepare('INSERT INTO schema_version (version, applied_at) VALUES (?, ?)').run(LEDGER_SCHEMA_VERSION + 1, new Date().toISOString());
  raw.close();
  expectThrows(() => openLedger(file), 'HOST_LEDGER_TOO_NEW');
  expectThrows(() => openLedger(file, { readonly: true }), 'HOST_LEDGER_TOO_NEW');
});

test('a file that is not a database is reported, not crashed on', (t) => {
  const file = tempLedgerFile(t);
  fs.writeFileSync(file, 'this is not sqlite '.repeat(100));
  expectThrows(() => openLedger(file), 'HOST_LEDGER_UNREADABLE');
});

test('every kind of deployment is recorded and read back as such', (t) => {
  const ledger = opened(t, tempLedgerFile(t));
  for (const kind of ['deploy', 'rollback', 'rollback-with-data', 'restore'] as const) {
    const id = ledger.startDeployment({ ...deployV1toV2, kind });
    ledger.finishDeployment(id, { outcome: 'succeeded' });
  }
  assert.deepEqual(ledger.history(10).map((h) => h.kind), ['restore', 'rollback-with-data', 'rollback', 'deploy']);
  assert.throws(() => ledger.startDeployment({ ...deployV1toV2, kind: 'upgrade' as never }), /CHECK constraint/);
});

/** A manifest as a release of a real app has it: 50,000 files. */
function bigManifest(files: number): { id: string; manifest: ReleaseManifest } {
  const { id: _ignored, ...base } = release({ version: 'v1', day: 1 });
  const manifest: ReleaseManifest = {
    ...base,
    files: Array.from({ length: files }, (_, i) => ({
      path: `node_modules/package-${String(Math.floor(i / 50)).padStart(4, '0')}/lib/file-${String(i % 50).padStart(2, '0')}.js`,
      sha256: createHash('sha256').update(String(i)).digest('hex'),
      mode: 0o644,
      size: 1000 + i,
    })),
  };
  return { id: releaseIdOf(manifest), manifest };
}

/** Whole size of a ledger on disk: the database file and its write-ahead log. */
function ledgerBytes(file: string): number {
  return [file, `${file}-wal`].reduce((sum, f) => sum + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0);
}

test('a release of 50,000 files keeps the ledger small, and the plan still reads its manifest (from manifests/<id>.json)', async (t) => {
  const root = tempDir(t, 'slipway-host-');
  const layout = hostLayout(root);
  await ensureHostLayout(layout);
  const { id, manifest } = bigManifest(50_000);
  const manifestText = JSON.stringify(manifest);
  assert.ok(manifestText.length > 5_000_000, `the manifest is ${manifestText.length} bytes`);
  // What installRelease does: the manifest beside the release, the record in the ledger.
  fs.writeFileSync(path.join(layout.manifestsDir, `${id}.json`), manifestText);
  const ledger = openLedger(layout.ledgerFile);
  // Passing the manifest (as callers written earlier do) is accepted and ignored.
  ledger.recordRelease({ id, version: manifest.version, commit: manifest.commit, manifestJson: manifestText });
  ledger.setCurrent({ currentId: id, previousId: null });
  ledger.close();

  const bytes = ledgerBytes(layout.ledgerFile);
  assert.ok(bytes < 1024 * 1024, `the ledger takes ${bytes} bytes`);

  const current = await readCurrentRelease(layout);
  assert.equal(current?.id, id);
  assert.equal(current?.files.length, 50_000);
  assert.deepEqual(current?.files.at(-1), manifest.files.at(-1));
});

test('a ledger that kept manifests (schema 3) is upgraded: manifests gone, space given back, history and releases kept', (t) => {
  const file = tempLedgerFile(t);
  const { id, manifest } = bigManifest(20_000);
  const old = createLedgerAtVersion(file, 3);
  old.prepare('INSERT INTO releases (id, version, commit_id, manifest_json, unpacked_at) VALUES (?, ?, ?, ?, ?)').run(id, 'v1', manifest.commit, JSON.stringify(manifest), '2025-01-01T00:00:00.000Z');
  const deployed = Number(
    old.prepare(`INSERT INTO deployments (kind, from_id, to_id, from_version, to_version, reason, who, started_at, finished_at, outcome) VALUES ('deploy', NULL, ?, NULL, 'v1', 'deploy', 'alice', ?, ?, 'succeeded')`)
      .run(id, '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:10.000Z').lastInsertRowid,
  );
  old.prepare(`INSERT INTO deployment_steps (deployment_id, name, started_at, started_ms, finished_at, outcome, ms) VALUES (?, 'fetch', ?, 0, ?, 'done', 12)`)
    .run(deployed, '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:01.000Z');
  old.pragma('wal_checkpoint(TRUNCATE)');
  old.close();
  const before = ledgerBytes(file);
  assert.ok(before > 2 * 1024 * 1024, `the old ledger takes ${before} bytes`);

  // Read-only (the CLI without an agent) cannot upgrade: it says so.
  expectThrows(() => openLedger(file, { readonly: true }), 'HOST_LEDGER_OUTDATED');

  const ledger = opened(t, file);
  assert.deepEqual(ledger.getRelease(id), { id, version: 'v1', commit: manifest.commit, unpackedAt: '2025-01-01T00:00:00.000Z' });
  const [entry] = ledger.history(5);
  assert.equal(entry?.id, deployed);
  assert.equal(entry?.kind, 'deploy');
  assert.deepEqual(entry?.steps, [{ name: 'fetch', outcome: 'done', ms: 12 }]);
  // The new kinds fit, and ids go on after the old ones.
  const next = ledger.startDeployment({ ...deployV1toV2, kind: 'rollback-with-data' });
  assert.ok(next > deployed);
  ledger.startStep(next, 'lock');
  ledger.finishStep(next, 'lock', { outcome: 'done' });
  assert.equal(ledger.getDeployment(next)?.steps.length, 1);
  // Foreign keys are on again: a step of no deployment is refused, and deleting a deployment takes its steps.
  const raw = new Database(file);
  t.after(() => raw.close());
  raw.pragma('foreign_keys = ON');
  assert.throws(() => raw.prepare(`INSERT INTO deployment_steps (deployment_id, name, started_at, started_ms) VALUES (999, 'x', 'now', 0)`).run(), /FOREIGN KEY/);
  raw.prepare('DELETE FROM deployments WHERE id = ?').run(deployed);
  assert.equal((raw.prepare('SELECT COUNT(*) AS n FROM deployment_steps WHERE deployment_id = ?').get(deployed) as { n: number }).n, 0);

  const columns = (raw.prepare('PRAGMA table_info(releases)').all() as Array<{ name: string }>).map((c) => c.name);
  assert.ok(!columns.includes('manifest_json'), columns.join(', '));
  const after = ledgerBytes(file);
  assert.ok(after < 1024 * 1024, `the upgraded ledger still takes ${after} bytes`);
});
