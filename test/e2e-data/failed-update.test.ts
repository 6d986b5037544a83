import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { createDataFixture, describe, json, noteColumns, startWriter, type Note } from '../helpers/data-fixture.js';

// Issue 4: "migration fails, or the new release fails its health window after
// migrating: restore the pre-update backup and switch back automatically; the old
// release serves with its data" — and no write the old release acknowledged is lost.

interface Deployment {
  id: number;
  from: string | null;
  to: string | null;
  outcome: string;
  steps: Array<{ name: string; outcome: string; ms: number }>;
}

interface BackupEntry {
  id: string;
  release: { id: string; version: string | null } | null;
  reason: string;
  items: Array<{ engine: string; file: string }>;
}

const V1_COLUMNS = ['id', 'text', 'created_at'];

it('a failing migration leaves v1 serving with its data and schema, and loses no write v1 acknowledged', { timeout: 120_000 }, async (t) => {
  const fx = await createDataFixture(t);
  const app = fx.app();
  const first = await fx.startAgent();
  assert.equal((await fx.cli(['deploy', 'production', '--version', 'v1', '--yes'])).code, 0);
  await app.addNote('kept through a failed update');
  await app.putUpload('scan.txt', 'a scan');
  const notesBefore = await app.notes();

  // The migration fails when the agent's environment says so: it reaches `node migrate.js`.
  await first.stop();
  await fx.startAgent({ env: { NOTES_FAIL_MIGRATION: '1' } });
  assert.equal(await app.version(), 'v1');

  const writer = startWriter({ port: app.port, prefix: 'acknowledged by v1' });
  const deploy = await fx.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  // A few more writes once the update is over, so the writer also saw v1 serve again.
  const more = (await app.notes()).length + 5;
  for (let i = 0; i < 200 && (await app.notes()).length < more; i++) await new Promise((r) => setTimeout(r, 20));
  const written = await writer.stop();

  assert.equal(deploy.code, 1, describe(deploy));
  assert.match(deploy.stderr, /`node migrate\.js` exited with code 1/, 'the message names the migration command');
  assert.match(deploy.stderr, /NOTES_FAIL_MIGRATION=1: failing on purpose/, "the migration's own last output is shown");
  assert.match(deploy.stderr, /v1 is serving/);

  assert.equal(await app.version(), 'v1');
  assert.equal((await app.request('GET', '/healthz')).status, 200);
  assert.deepEqual(noteColumns(fx.hostRoot()), V1_COLUMNS, 'the schema is v1\'s');
  const notesAfter = await app.notes();
  assert.deepEqual(notesAfter.slice(0, notesBefore.length), notesBefore, 'the notes from before are intact');
  assert.equal(await app.upload('scan.txt'), 'a scan');
  assert.ok(written.acknowledged.length > 5, `the writer kept writing: ${JSON.stringify(written.statuses)}`);
  const texts = new Set(notesAfter.map((n: Note) => n.text));
  const lost = written.acknowledged.filter((text) => !texts.has(text));
  assert.deepEqual(lost, [], `writes acknowledged during the failed update are all kept (answers: ${JSON.stringify(written.statuses)})`);

  const [latest] = json<Deployment[]>(await fx.cli(['history', 'production', '--json']));
  assert.equal(latest?.outcome, 'rolled-back', JSON.stringify(latest));
  assert.equal(latest.from, 'v1');
  assert.equal(latest.to, 'v2');
  assert.deepEqual(latest.steps.find((s) => s.name === 'migrate')?.outcome, 'failed');
  assert.equal(latest.steps.some((s) => s.name === 'switch'), false, 'it never switched');
});

// v2's code and migration, but its health check fails once a certain note is written:
// it starts, is switched to, takes writes, then fails the health window after the switch.
const BREAKS_AFTER_A_WRITE = `// notes v2.1: v2 whose health check fails once "the last straw" is written (on purpose).
import { runNotesServer } from './app.js';

/** @param {import('./db.js').Database} db */
async function survivesTheLastStraw(db) {
  const rows = await db.query("SELECT count(*) AS n FROM notes WHERE text = 'the last straw'");
  if (Number(rows[0].n) > 0) throw new Error('broken by the last straw (on purpose)');
}

await runNotesServer({ version: 'v2.1', healthProbes: [survivesTheLastStraw] });
`;

/** The notes inside a backup's SQLite file, read with SQLite itself (not with slipway). */
function notesInBackup(o: { hostRoot: string; backup: BackupEntry; scratchDir: string }): string[] {
  const item = o.backup.items.find((i) => i.engine === 'sqlite')!;
  const file = path.join(o.scratchDir, `${o.backup.id}.db`);
  writeFileSync(file, gunzipSync(readFileSync(path.join(o.hostRoot, 'backups', o.backup.id, item.file))));
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT text FROM notes ORDER BY id').all() as Array<{ text: string }>).map((r) => r.text);
  } finally {
    db.close();
    rmSync(file);
  }
}

it('a release failing its health window after migrating is undone: the pre-deploy backup is restored, v1 serves its data, what the release was given is kept', { timeout: 120_000 }, async (t) => {
  // The window is long; the release fails it as soon as the test has written to it.
  const fx = await createDataFixture(t, { healthWindow: '20s', build: ['v1'] });
  await fx.commitVariant({ base: 'v2', tag: 'v2.1', files: { 'server.js': BREAKS_AFTER_A_WRITE } });
  await fx.build('v2.1');
  const app = fx.app();
  await fx.startAgent();
  assert.equal((await fx.cli(['deploy', 'production', '--version', 'v1', '--yes'])).code, 0);
  await app.addNote('one two three');
  await app.putUpload('kept.txt', 'still here');
  const notesBefore = await app.notes();

  const deploying = fx.cli(['deploy', 'production', '--version', 'v2.1', '--yes']);
  for (let i = 0; i < 600 && (await app.version().catch(() => '')) !== 'v2.1'; i++) await new Promise((r) => setTimeout(r, 50));
  const straw = await app.addNote('the last straw');
  assert.equal(straw.words, 3, 'v2.1 took the write');
  const deploy = await deploying;
  assert.equal(deploy.code, 1, describe(deploy));
  assert.match(deploy.stderr, /v2\.1 failed its health window after the switch/);

  const [latest] = json<Deployment[]>(await fx.cli(['history', 'production', '--json']));
  assert.equal(latest?.outcome, 'rolled-back', JSON.stringify(latest));
  const outcome = (name: string) => latest.steps.find((s) => s.name === name)?.outcome;
  assert.equal(outcome('migrate'), 'done', 'the migration ran');
  assert.equal(outcome('switch'), 'done', 'v2.1 served');
  assert.equal(outcome('watch'), 'failed', 'the health window caught it');

  const backups = json<BackupEntry[]>(await fx.cli(['backups', 'production', '--json']));
  const pre = backups.find((b) => b.reason === 'pre-deploy');
  assert.equal(pre?.release?.version, 'v1', JSON.stringify(backups));
  assert.match(deploy.stderr, new RegExp(`undo migrate: restored backup ${pre.id}`), 'the pre-deploy backup was restored');
  assert.equal(backups.some((b) => b.reason === 'post-deploy' && b.release?.version === 'v2.1'), false, 'no backup claims v2.1 succeeded');

  assert.equal(await app.version(), 'v1');
  assert.equal((await app.request('GET', '/healthz')).status, 200);
  assert.deepEqual(noteColumns(fx.hostRoot()), V1_COLUMNS, 'the words column v2.1 added is gone');
  assert.deepEqual(await app.notes(), notesBefore);
  assert.equal(await app.upload('kept.txt'), 'still here');
  const status = json<{ current: { version: string } | null }>(await fx.cli(['status', 'production', '--json']));
  assert.equal(status.current?.version, 'v1');

  // The write v2.1 acknowledged is not in v1's data, but it is not gone for good either.
  const kept = backups.find((b) => b.reason === 'pre-restore' && b.release?.version === 'v2.1');
  assert.ok(kept, `the data v2.1 left was backed up before the restore: ${JSON.stringify(backups)}`);
  assert.match(deploy.stderr, new RegExp(`kept in backup ${kept.id}`));
  assert.ok(notesInBackup({ hostRoot: fx.hostRoot(), backup: kept, scratchDir: fx.dir }).includes('the last straw'));
});
