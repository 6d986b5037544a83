/**
 * Steps that say beforehand they have nothing to do (skipWhy) are recorded in the history,
 * never journaled and never undone; with a hook around them they run as before.
 * On a real journal file and a real ledger.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { openJournal, type Journal } from '../../src/host/journal.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { runPipeline, type PipelineStep } from '../../src/update/pipeline.js';
import { countingSyncs } from '../helpers/count-syncs.js';

/** A journal file and a ledger in a temp folder, with one deployment started. */
async function withHost(run: (o: { journal: Journal; ledger: Ledger; id: number }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-pipeline-skip-'));
  const ledger = openLedger(path.join(dir, 'ledger.db'));
  try {
    const id = ledger.startDeployment({ kind: 'deploy', fromId: null, toId: 'r2', fromVersion: null, toVersion: 'v2', reason: 'test', who: 'test' });
    await run({ journal: openJournal(path.join(dir, 'journal.jsonl')), ledger, id });
  } finally {
    ledger.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function steps(log: string[], o: { failAt?: string } = {}): PipelineStep<null>[] {
  const step = (name: string, skip: string | null): PipelineStep<null> => ({
    name,
    skipWhy: () => skip,
    async run() {
      log.push(`run ${name}`);
      if (o.failAt === name) throw new Error(`${name} broke`);
    },
    async undo() {
      log.push(`undo ${name}`);
    },
  });
  return [step('a', null), step('b', 'nothing to do here'), step('c', null)];
}

test('a step skipped beforehand: a history row with its reason, no journal line, never run nor undone', async () => {
  await withHost(async ({ journal, ledger, id }) => {
    const log: string[] = [];
    const events: string[] = [];
    const result = await runPipeline({
      steps: steps(log, { failAt: 'c' }),
      ctx: null,
      deploymentId: id,
      journal,
      ledger,
      onEvent: (e) => events.push(e.type === 'step-end' ? `${e.name} ${e.outcome}` : `${e.type} ${e.name}`),
    });
    assert.equal(result.ok, false);
    assert.deepEqual(log, ['run a', 'run c', 'undo c', 'undo a']);
    assert.ok(events.includes('b skipped'), events.join(', '));
    const journaled = (await journal.entriesFor(id)).map((e) => `${e.step} ${e.phase}`);
    assert.ok(!journaled.some((line) => line.startsWith('b ')), journaled.join(', '));
    assert.ok(journaled.includes('a begin') && journaled.includes('c begin'), journaled.join(', '));
    const rows = ledger.getDeployment(id)!.steps.filter((s) => s.name === 'b');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.outcome, 'skipped');
    assert.equal(rows[0]!.detail, 'nothing to do here');
  });
});

test('a step with a hook around it runs even when it would skip, so the hook runs too', async () => {
  await withHost(async ({ journal, ledger, id }) => {
    const log: string[] = [];
    const result = await runPipeline({
      steps: steps(log),
      ctx: null,
      deploymentId: id,
      journal,
      ledger,
      onEvent: () => undefined,
      hasHooks: (step) => step === 'b',
      runHooks: async (when, step) => void log.push(`hook ${when}_${step}`),
    });
    assert.equal(result.ok, true);
    assert.ok(log.includes('run b') && log.includes('hook before_b') && log.includes('hook after_b'), log.join(', '));
    assert.ok((await journal.entriesFor(id)).some((e) => e.step === 'b' && e.phase === 'begin'));
  });
});

test("a step's begin is synced before it acts, unless nothing of it is ever undone; an end rides on the next synced line", async () => {
  await withHost(async ({ journal, ledger, id }) => {
    await journal.append({ deployment: id, step: 'setup', phase: 'facts' }); // the file exists from here on
    const at: Record<string, number> = {};
    await countingSyncs(journal.file, async (syncs) => {
      const step = (name: string, o: { undo?: boolean; leavesNothingToUndo?: boolean }): PipelineStep<null> => ({
        name,
        ...(o.leavesNothingToUndo ? { leavesNothingToUndo: true } : {}),
        async run() {
          at[name] = syncs();
        },
        ...(o.undo ? { async undo() {} } : {}),
      });
      const result = await runPipeline({
        steps: [step('lock', { undo: true }), step('fetch', { leavesNothingToUndo: true }), step('watch', {}), step('finish', {})],
        ctx: null,
        deploymentId: id,
        journal,
        ledger,
        onEvent: () => {},
      });
      assert.equal(result.ok, true);
      assert.deepEqual(at, {
        lock: 1, // its begin
        fetch: 1, // lock's end and fetch's begin written, not synced: fetch's work is never undone
        watch: 2, // its begin, carrying the lines before it
        finish: 3, // its begin carries watch's end: recovery finishes an update whose watch ended
      });
      assert.equal(syncs(), 4, "the pipeline's flush carries finish's end");
    });
    const phases = (await journal.entriesFor(id)).filter((e) => e.step !== 'setup').map((e) => `${e.step} ${e.phase}`);
    assert.deepEqual(phases, ['lock begin', 'lock end', 'fetch begin', 'fetch end', 'watch begin', 'watch end', 'finish begin', 'finish end']);
  });
});
