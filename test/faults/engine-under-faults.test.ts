// The engine parts the fault matrix leans on, each alone: the pipeline's test-only pause
// hook, the pipeline on a journal or ledger that cannot be written (a full disk), the
// disk reserve that gives an undo room, and a database that is starting or stopping
// read as unreachable (so an undo waits for it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readConnectionUrl } from '../../src/data/connection-url.js';
import { databaseToolError } from '../../src/data/data-errors.js';
import { ToolExitError } from '../../src/data/tool-process.js';
import { DISK_RESERVE_BYTES, diskReserveFile, ensureDiskReserve, releaseDiskReserve } from '../../src/host/disk-reserve.js';
import type { Journal, JournalEntry } from '../../src/host/journal.js';
import { hostLayout } from '../../src/host/layout.js';
import type { Ledger } from '../../src/host/ledger.js';
import { runPipeline, type PipelineStep } from '../../src/update/pipeline.js';
import { faultsFromEnvironment } from '../../src/update/test-faults.js';
import { tempDir } from '../helpers/temp-dir.js';
import { expectRejects } from '../helpers/expect-error.js';

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

/** A journal kept in memory; `failWhen` makes an append throw ENOSPC. */
function memoryJournal(failWhen: (entry: Omit<JournalEntry, 'at'>) => boolean = () => false): Journal & { entries: Omit<JournalEntry, 'at'>[] } {
  const entries: Omit<JournalEntry, 'at'>[] = [];
  return {
    file: '(memory)',
    entries,
    async append(entry) {
      if (failWhen(entry)) throw enospc();
      entries.push(entry);
      return { ...entry, at: new Date().toISOString() } as JournalEntry;
    },
    async flush() {},
    async entriesFor() {
      return [];
    },
    async lastEntries() {
      return [];
    },
  };
}

/** The two ledger calls the pipeline makes; `full` makes them throw like SQLite on a full disk. */
function memoryLedger(o: { full?: () => boolean } = {}): Ledger {
  const write = () => {
    if (o.full?.()) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  };
  return { startStep: write, finishStep: write } as unknown as Ledger;
}

/** Steps a, b, c that log what they run and undo. */
function loggingSteps(log: string[]): PipelineStep<null>[] {
  return ['a', 'b', 'c'].map((name) => ({
    name,
    async run() {
      log.push(`run ${name}`);
    },
    async undo() {
      log.push(`undo ${name}`);
    },
  }));
}

test('a step whose record cannot be written fails, and the steps before it are undone', async () => {
  const log: string[] = [];
  const journal = memoryJournal((e) => e.step === 'b' && e.phase === 'begin');
  const result = await runPipeline({
    steps: loggingSteps(log),
    ctx: null,
    deploymentId: 1,
    journal,
    ledger: memoryLedger(),
    onEvent: () => undefined,
    onFailure: async () => void log.push('on failure'),
  });
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.failedStep, 'b');
  assert.equal(!result.ok && (result.error as NodeJS.ErrnoException).code, 'ENOSPC');
  // b never ran; its undo runs anyway (an undo checks what was done), then a's; the room is freed first.
  assert.deepEqual(log, ['run a', 'on failure', 'undo b', 'undo a']);
});

test('once a step failed, an undo runs even when nothing can be recorded any more', async () => {
  const log: string[] = [];
  let full = false;
  const steps = loggingSteps(log);
  steps[2] = {
    name: 'c',
    async run() {
      full = true;
      throw enospc();
    },
  };
  const result = await runPipeline({
    steps,
    ctx: null,
    deploymentId: 1,
    journal: memoryJournal(() => full),
    ledger: memoryLedger({ full: () => full }),
    onEvent: () => undefined,
  });
  assert.equal(result.ok, false);
  assert.deepEqual(!result.ok && result.undoFailures, []);
  assert.deepEqual(log, ['run a', 'run b', 'undo b', 'undo a']);
});

test('the pause hook holds the update before or after a step until told to go on, and does nothing unarmed', async (t) => {
  const dir = tempDir(t);
  const saved = { ...process.env };
  t.after(() => {
    for (const key of ['SLIPWAY_TEST_HOOKS', 'SLIPWAY_TEST_PAUSE_AT', 'SLIPWAY_TEST_PAUSE_DIR']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });
  const run = (log: string[]) =>
    runPipeline({ steps: loggingSteps(log), ctx: null, deploymentId: 1, journal: memoryJournal(), ledger: memoryLedger(), onEvent: () => undefined, faults: faultsFromEnvironment(process.env) });

  for (const [when, ranBeforePause] of [['before', ['run a']], ['after', ['run a', 'run b']]] as const) {
    Object.assign(process.env, { SLIPWAY_TEST_HOOKS: '1', SLIPWAY_TEST_PAUSE_AT: `${when}:b`, SLIPWAY_TEST_PAUSE_DIR: dir });
    const log: string[] = [];
    const running = run(log);
    const paused = path.join(dir, 'b.paused');
    while (!existsSync(paused)) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(log, ranBeforePause, `${when}:b pauses there`);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(log, ranBeforePause, `${when}:b stays paused until b.resume appears`);
    writeFileSync(path.join(dir, 'b.resume'), '');
    assert.equal((await running).ok, true);
    assert.deepEqual(log, ['run a', 'run b', 'run c']);
    assert.deepEqual(readdirSync(dir), [], 'both files are gone, so the next update pauses again');
  }

  // A .resume written in advance lets one update through without waiting.
  writeFileSync(path.join(dir, 'b.resume'), '');
  assert.equal((await run([])).ok, true);
  assert.deepEqual(readdirSync(dir), []);

  delete process.env.SLIPWAY_TEST_HOOKS;
  assert.equal((await run([])).ok, true, 'without SLIPWAY_TEST_HOOKS=1 nothing pauses');
  assert.deepEqual(readdirSync(dir), []);
});

test('the disk reserve is written once, in full, and freed on demand', async (t) => {
  const layout = hostLayout(tempDir(t));
  await ensureDiskReserve(layout);
  const file = diskReserveFile(layout);
  const first = statSync(file);
  assert.equal(first.size, DISK_RESERVE_BYTES);
  assert.ok(first.blocks * 512 >= DISK_RESERVE_BYTES, 'real blocks, not a sparse file');
  await ensureDiskReserve(layout);
  assert.equal(statSync(file).mtimeMs, first.mtimeMs, 'an existing reserve is kept as it is');
  await releaseDiskReserve(layout);
  assert.equal(existsSync(file), false);
  await releaseDiskReserve(layout);
});

test('no room for the disk reserve: HOST_DISK_FULL before anything changes, no partial file', async (t) => {
  if (process.getuid?.() !== 0) {
    process.stderr.write('SKIPPED: mounting a size-limited tmpfs needs root\n');
    return t.skip('mounting a size-limited tmpfs needs root');
  }
  const root = tempDir(t);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', root], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    process.stderr.write(`SKIPPED: cannot mount a tmpfs here: ${mounted.stderr}\n`);
    return t.skip(`cannot mount a tmpfs here: ${mounted.stderr}`);
  }
  try {
    const layout = hostLayout(root);
    await expectRejects(ensureDiskReserve(layout), 'HOST_DISK_FULL', { hint: /free space/ });
    assert.deepEqual(readdirSync(root), []);
  } finally {
    spawnSync('umount', [root]);
  }
});

test('a database server that is starting, stopping or recovering is unreachable (for now), like one that is down', () => {
  const conn = readConnectionUrl({ urlEnv: 'DATABASE_URL', env: { DATABASE_URL: 'postgres://app@127.0.0.1:5432/app' }, schemes: ['postgres'], example: 'postgres://…' });
  for (const stderr of [
    'psql: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system is starting up',
    'psql: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system is not yet accepting connections',
    'pg_dump: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system is shutting down',
    'pg_restore: error: server closed the connection unexpectedly',
    'psql: error: connection to server at "127.0.0.1", port 5432 failed: Connection refused',
  ]) {
    const error = databaseToolError({ engine: 'PostgreSQL', conn, action: 'restore', error: new ToolExitError('psql', 2, null, stderr) });
    assert.equal(error.code, 'BACKUP_DB_UNREACHABLE', stderr);
  }
  const denied = databaseToolError({ engine: 'PostgreSQL', conn, action: 'restore', error: new ToolExitError('psql', 2, null, 'FATAL:  password authentication failed for user "app"') });
  assert.equal(denied.code, 'BACKUP_DB_AUTH', 'a refused password is not waited for');
});
