import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { JOURNAL_MAX_BYTES, openJournal } from '../../src/host/journal.js';
import { countingSyncs } from '../helpers/count-syncs.js';
import { tempDir } from '../helpers/temp-dir.js';

function tempFile(t: { after(fn: () => void): void }): string {
  const dir = tempDir(t);
  return path.join(dir, 'journal.jsonl');
}

test('entries are appended as JSON lines and read back per deployment', async (t) => {
  const file = tempFile(t);
  const journal = openJournal(file);
  const first = await journal.append({ deployment: 1, step: 'lock', phase: 'begin' });
  assert.match(first.at, /^\d{4}-\d\d-\d\dT/);
  await journal.append({ deployment: 1, step: 'lock', phase: 'end', outcome: 'done', data: { token: 'abc' } });
  await journal.append({ deployment: 2, step: 'lock', phase: 'begin' });
  await journal.append({ deployment: 1, step: 'migrate', phase: 'undo-begin' });

  const lines = fs.readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.length, 5); // four lines and the final newline
  assert.equal(lines[4], '');
  assert.deepEqual(JSON.parse(lines[1]).data, { token: 'abc' });

  const one = await journal.entriesFor(1);
  assert.deepEqual(one.map((e) => [e.step, e.phase]), [['lock', 'begin'], ['lock', 'end'], ['migrate', 'undo-begin']]);
  assert.equal(one[1].outcome, 'done');
  // '1' and 1 name the same deployment.
  assert.equal((await journal.entriesFor('1')).length, 3);
  assert.deepEqual((await journal.lastEntries(2)).map((e) => e.deployment), [2, 1]);
  assert.equal((await journal.lastEntries(10)).length, 4);
  // A second reader of the same file (recovery after a restart) sees the same.
  assert.equal((await openJournal(file).entriesFor(2)).length, 1);
});

test('a missing journal reads as empty', async (t) => {
  const journal = openJournal(tempFile(t));
  assert.deepEqual(await journal.lastEntries(5), []);
  assert.deepEqual(await journal.entriesFor(1), []);
});

test('appends started together land in call order, one per line', async (t) => {
  const journal = openJournal(tempFile(t));
  await Promise.all(Array.from({ length: 30 }, (_, i) => journal.append({ deployment: 7, step: `s${i}`, phase: 'begin' })));
  assert.deepEqual((await journal.entriesFor(7)).map((e) => e.step), Array.from({ length: 30 }, (_, i) => `s${i}`));
});

test('a torn last line (a crash mid-write) is ignored, and the next append is not swallowed by it', async (t) => {
  const file = tempFile(t);
  const journal = openJournal(file);
  await journal.append({ deployment: 3, step: 'backup', phase: 'begin' });
  await journal.append({ deployment: 3, step: 'backup', phase: 'end', outcome: 'done' });
  fs.appendFileSync(file, '{"at":"2025-01-01T00:00:00.000Z","deployment":3,"step":"mig');

  assert.deepEqual((await journal.entriesFor(3)).map((e) => e.phase), ['begin', 'end']);
  assert.equal((await journal.lastEntries(1))[0].step, 'backup');

  await journal.append({ deployment: 3, step: 'migrate', phase: 'begin' });
  assert.deepEqual((await journal.entriesFor(3)).map((e) => `${e.step}:${e.phase}`), ['backup:begin', 'backup:end', 'migrate:begin']);
  // Lines that are JSON but not entries are skipped too.
  fs.appendFileSync(file, '[1,2]\n{"deployment":3}\n');
  assert.equal((await journal.entriesFor(3)).length, 3);
});

test('the journal rotates past its size limit, keeping the previous file as .1', async (t) => {
  const file = tempFile(t);
  const journal = openJournal(file, { maxBytes: 1000 });
  const padding = 'p'.repeat(100);
  for (let i = 0; i < 12; i++) await journal.append({ deployment: 9, step: `s${i}`, phase: 'begin', data: { padding } });
  assert.ok(fs.existsSync(`${file}.1`));
  assert.ok(fs.statSync(file).size < 1000 + 200);
  const steps = (await journal.entriesFor(9)).map((e) => e.step);
  // Reads span the rotated file and the new one, in order, without gaps.
  assert.deepEqual(steps, Array.from({ length: 12 }, (_, i) => `s${i}`));
  assert.deepEqual((await journal.lastEntries(3)).map((e) => e.step), ['s9', 's10', 's11']);

  // Only one previous file is kept: after many more entries the oldest are gone.
  for (let i = 12; i < 40; i++) await journal.append({ deployment: 9, step: `s${i}`, phase: 'begin', data: { padding } });
  assert.ok(!fs.existsSync(`${file}.2`));
  const later = (await journal.entriesFor(9)).map((e) => e.step);
  assert.ok(!later.includes('s0'));
  assert.equal(later.at(-1), 's39');
});

test('the default limit is 5 MiB', async (t) => {
  const file = tempFile(t);
  assert.equal(JOURNAL_MAX_BYTES, 5 * 1024 * 1024);
  const line = JSON.stringify({ at: new Date().toISOString(), deployment: 1, step: 'old', phase: 'end' }) + '\n';
  fs.writeFileSync(file, line.repeat(Math.ceil(JOURNAL_MAX_BYTES / line.length)));
  const bigSize = fs.statSync(file).size;
  const journal = openJournal(file);
  await journal.append({ deployment: 2, step: 'new', phase: 'begin' });
  assert.equal(fs.statSync(`${file}.1`).size, bigSize);
  assert.equal((await journal.lastEntries(5)).at(-1)?.step, 'new');
  assert.equal(fs.readFileSync(file, 'utf8').split('\n').length, 2);
});

test('a line appended with sync: false is made durable by the next synced line or by flush, one fsync each', async (t) => {
  const file = tempFile(t);
  const journal = openJournal(file);
  await journal.append({ deployment: 1, step: 'lock', phase: 'begin' }); // the file and its folder entry exist from here on
  await countingSyncs(file, async (syncs) => {
    await journal.append({ deployment: 1, step: 'lock', phase: 'end', outcome: 'done' }, { sync: false });
    assert.equal(syncs(), 0, 'written, not synced');
    await journal.append({ deployment: 1, step: 'fetch', phase: 'begin' });
    assert.equal(syncs(), 1, 'the next line is synced, and the one before with it');
    await journal.append({ deployment: 1, step: 'fetch', phase: 'end', outcome: 'done' }, { sync: false });
    await journal.flush();
    assert.equal(syncs(), 2, 'flush syncs what is pending');
    await journal.flush();
    assert.equal(syncs(), 2, 'and nothing when nothing is');
  });
  assert.deepEqual((await journal.entriesFor(1)).map((e) => `${e.step} ${e.phase}`), ['lock begin', 'lock end', 'fetch begin', 'fetch end']);
});

test('an unsynced line is synced before its file is rotated away', async (t) => {
  const file = tempFile(t);
  const journal = openJournal(file, { maxBytes: 200 });
  await journal.append({ deployment: 1, step: 'lock', phase: 'begin', data: { pad: 'x'.repeat(150) } });
  await countingSyncs(file, async (syncs) => {
    await journal.append({ deployment: 1, step: 'lock', phase: 'end', outcome: 'done' }, { sync: false });
    await journal.append({ deployment: 1, step: 'fetch', phase: 'begin' }); // rotates first
    assert.equal(syncs(), 2, 'the old file before it moves, then the new line');
  });
  assert.ok(fs.existsSync(`${file}.1`));
  assert.deepEqual((await journal.entriesFor(1)).map((e) => `${e.step} ${e.phase}`), ['lock begin', 'lock end', 'fetch begin']);
});
