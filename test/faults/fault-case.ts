/**
 * One cell of the fault matrix: a fresh host runs v1, the update to v2 pauses at a
 * step (the pipeline's test-only pause hook), the column's fault is injected, the
 * update goes on, the fault is lifted, and the invariant is checked:
 *
 * - the app serves a complete release: /healthz 200, /version is the release `current`
 *   points at, the ledger agrees, `slipway verify` exits 0;
 * - the data matches that release (v1's or v2's schema) and every note written before
 *   the update is still there; the app takes writes again (no maintenance left on);
 * - every backup taken since the update began verifies (`slipway backup verify`);
 * - no lock is held (`slipway lock status --json`);
 * - the update has an outcome that agrees with what serves, and the deploy command's
 *   exit code agrees with it when the command saw the update through;
 * - once the agent stops, no process of the case is left.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { PIPELINE_STEPS, type PipelineStepName } from '../../src/config/types.js';
import { appNoteColumns, processesUnder, waitUntil, type AgentProcess, type CliResult, type HostFixture, type RunningCli } from '../helpers/host-fixture.js';
import { heldLock, latestUpdateTo, recordedBackups } from '../helpers/ledger-reads.js';
import { killProcessesUnder } from '../helpers/processes.js';
import { startColumn } from './matrix.js';

export type Schema = 'v1' | 'v2';

export interface FaultCase {
  step: PipelineStepName;
  host: HostFixture;
  /** the agent running the update */
  agent: AgentProcess;
  /** `slipway deploy production --version v2 --yes`, in flight while the update is paused */
  deploy: RunningCli;
}

export interface FaultSpec {
  /** the update pauses for the fault before the step's work, or after it (the crash hook's moment) */
  pauseWhen: 'before' | 'after';
  /** the fault kills the agent: a new agent (the recovery) starts once the update has stopped */
  killsAgent?: boolean;
  /** before the agent starts (mount a small disk, point the app at its database) */
  prepare?(host: HostFixture, step: PipelineStepName): Promise<void>;
  /** while the update is paused at the step */
  inject(c: FaultCase): Promise<void>;
  /** the fault goes away: once the update has ended, or once a step failed with `liftOnFailure` */
  lift?(c: FaultCase): Promise<void>;
  /** lift the fault as soon as a step fails (the undo needs what the fault took away), not when the update ends */
  liftOnFailure?: boolean;
  /** at the very end of a case, passed or not, after every process of it is gone (unmount) */
  cleanup?(host: HostFixture, step: PipelineStepName): Promise<void>;
  /** which release's schema the app's data has now */
  schema(host: HostFixture, step: PipelineStepName): Promise<Schema>;
  /** more checks once the invariant holds (the agent-SIGKILL column's CLI message, a later deploy) */
  more?(c: FaultCase & { deployResult: CliResult; result: InvariantResult }): Promise<void>;
}

export interface InvariantResult {
  served: Schema;
  outcome: 'succeeded' | 'rolled-back';
  /** the step that failed, when the update was undone by the agent itself */
  failedStep: string | null;
  /** a new agent finished the update (the one running it had died) */
  recovered: boolean;
}

const HOOK_ENV = (step: string, when: 'before' | 'after', dir: string) => ({
  SLIPWAY_TEST_HOOKS: '1',
  SLIPWAY_TEST_PAUSE_AT: `${when}:${step}`,
  SLIPWAY_TEST_PAUSE_DIR: dir,
});

/** How long an update may take once it is resumed (a stuck one fails the cell instead of the whole run). */
const UPDATE_LIMIT_MS = 90_000;

/**
 * Runs a column: its fixture, then one case per step, each a subtest; every cell is
 * recorded and the matrix printed at the end, whatever failed. `setUp` starts what
 * the column needs once and says why this machine cannot inject the fault, if it
 * cannot: the column is then skipped, loudly.
 */
export async function runFaultColumn(
  t: TestContext,
  o: { column: string; fixture(): Promise<HostFixture>; spec: FaultSpec; setUp?: () => Promise<string | null> },
): Promise<void> {
  const column = startColumn(o.column);
  try {
    const skip = (await o.setUp?.()) ?? null;
    if (skip) {
      column.skipAll('skipped');
      process.stderr.write(`SKIPPED fault column ${o.column}: ${skip}\n`);
      t.skip(skip);
      return;
    }
    const base = await o.fixture();
    for (const step of PIPELINE_STEPS) {
      await t.test(`fault at ${step}`, async () => {
        try {
          const result = await runFaultCase(base, o.spec, step);
          column.record(step, { text: cellText(result), red: false });
        } catch (error) {
          column.record(step, { text: firstLine(error), red: true });
          throw error;
        }
      });
    }
  } finally {
    column.finish();
  }
}

export async function runFaultCase(base: HostFixture, spec: FaultSpec, step: PipelineStepName): Promise<InvariantResult> {
  const host = base.freshHost(step);
  const pauseDir = path.join(host.home, 'pause');
  mkdirSync(pauseDir);
  const agents: AgentProcess[] = [];
  const at = (what: string) => `[${step}] ${what}`;
  let t0 = performance.now();
  // SLIPWAY_FAULTS_VERBOSE=1: where a case's time goes.
  const lap = (what: string) => {
    if (process.env.SLIPWAY_FAULTS_VERBOSE) process.stderr.write(`[${step}] ${what}: ${Math.round(performance.now() - t0)} ms\n`);
    t0 = performance.now();
  };
  try {
    await spec.prepare?.(host, step);
    const agent = await host.startAgent({ env: HOOK_ENV(step, spec.pauseWhen, pauseDir) });
    agents.push(agent);
    lap('agent started');

    // v1 goes through the armed hook: a .resume written in advance lets one update pass.
    const resume = path.join(pauseDir, `${step}.resume`);
    writeFileSync(resume, '');
    const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
    assert.equal(v1.code, 0, at(`deploy v1: ${v1.stderr}`));
    assert.equal(existsSync(resume), false, at('the v1 update passed the pause hook (it consumed the .resume file)'));
    const notesBefore = [`before the update, ${step} #1`, `before the update, ${step} #2`];
    for (const text of notesBefore) {
      const written = await host.request('POST', '/api/notes', { body: JSON.stringify({ text }) });
      assert.equal(written.status, 201, at(`v1 takes a note: ${written.body}`));
    }
    const updateBegan = new Date().toISOString();
    lap('v1 deployed, notes written');

    const deploy = host.spawnCli(['deploy', 'production', '--version', 'v2', '--yes']);
    const c: FaultCase = { step, host, agent, deploy };
    const paused = path.join(pauseDir, `${step}.paused`);
    let ended = false;
    void deploy.result.then(() => (ended = true));
    await waitUntil(at(`the update to pause at ${step}`), () => existsSync(paused) || ended, 60_000);
    assert.ok(existsSync(paused), at(`the update never reached ${step}:\n${deploy.output()}\nagent:\n${agent.output()}`));

    lap('v2 paused');
    await spec.inject(c);
    writeFileSync(resume, '');

    if (spec.liftOnFailure) {
      await waitUntil(at('a step to fail or the update to end'), () => /✗ \w+/.test(deploy.output()) || ended, UPDATE_LIMIT_MS);
      await spec.lift?.(c);
    }
    const deployResult = await withLimit(deploy.result, UPDATE_LIMIT_MS, () => deploy.child.kill('SIGKILL'));
    assert.ok(deployResult, at(`the update did not end within ${UPDATE_LIMIT_MS} ms:\n${deploy.output()}\nagent:\n${agent.output()}`));
    const agentAlive = () => agent.child.exitCode === null && agent.child.signalCode === null;
    // With the CLI killed the update still runs in the agent: wait for its end in the ledger.
    if (deployResult.code === null) await waitUntil(at('the update to end in the agent'), () => !agentAlive() || latestDeploymentFinished(host), UPDATE_LIMIT_MS);
    if (!spec.liftOnFailure) await spec.lift?.(c);

    lap('v2 ended');
    let recovered = false;
    if (!agentAlive()) {
      assert.ok(spec.killsAgent, at(`the agent died during the update:\n${agent.output()}`));
      agents.push(await host.startAgent());
      recovered = true;
    }
    const serving = agents[agents.length - 1]!;
    lap('recovered');
    const result = await assertInvariant({ host, step, spec, notesBefore, updateBegan, recovered, context: () => `agent:\n${serving.output()}\ndeploy v2 (${deployResult.code}):\n${deployResult.stdout}${deployResult.stderr}` });
    // SLIPWAY_FAULTS_VERBOSE=1 shows what every case's update said, passed or not.
    if (process.env.SLIPWAY_FAULTS_VERBOSE) process.stderr.write(`--- [${step}] deploy v2 (${deployResult.code}):\n${deployResult.stdout}${deployResult.stderr}\nagent:\n${serving.output()}\n`);
    if (deployResult.code !== null && !recovered) {
      // The deploy command watched the whole update: its exit code tells the outcome.
      assert.equal(deployResult.code === 0, result.outcome === 'succeeded', at(`deploy v2 exits ${deployResult.code} for an update that ${result.outcome}:\n${deployResult.stdout}${deployResult.stderr}`));
    }
    lap('invariant checked');
    await spec.more?.({ ...c, deployResult, result });
    lap('more');

    await serving.stop();
    lap('agent stopped');
    const left = processesUnder(base.dir);
    assert.deepEqual(left, [], at('nothing of the case runs once its agent stopped'));
    return result;
  } finally {
    await stopEverything(agents, base.dir);
    await spec.cleanup?.(host, step);
  }
}

async function assertInvariant(o: {
  host: HostFixture;
  step: PipelineStepName;
  spec: FaultSpec;
  notesBefore: string[];
  updateBegan: string;
  recovered: boolean;
  context(): string;
}): Promise<InvariantResult> {
  const { host, step } = o;
  const at = (what: string) => `[${step}] ${what}\n${o.context()}`;

  // The app may need a moment to reconnect to a database that came back.
  let healthz = await host.get('/healthz');
  if (healthz.status !== 200) {
    await waitUntil(at('/healthz to answer 200'), async () => (healthz = await host.get('/healthz')).status === 200, 15_000).catch(() => undefined);
  }
  assert.equal(healthz.status, 200, at(`/healthz: ${healthz.status} ${healthz.body}`));

  const currentId = host.currentId();
  assert.ok(currentId, at('current points at a release'));
  const currentVersion = [...host.releases].find(([, id]) => id === currentId)?.[0];
  const served = (await host.get('/version')).body;
  assert.equal(served, currentVersion, at('the proxy serves the release current points at'));
  assert.ok(served === 'v1' || served === 'v2', at(`serves v1 or v2, not ${served}`));
  assert.equal(host.ledgerState().currentId, currentId, at('the ledger agrees with current'));

  // What the CLI says (verify, and below each backup's verify); the lock, the update's record and the backups
  // listed from the host's files (ledger-reads.ts).
  const verify = await host.cli(['verify', 'production']);
  assert.equal(verify.code, 0, at(`slipway verify: ${verify.stdout}${verify.stderr}`));
  assert.equal(heldLock(host.hostRoot), null, at('no lock is held'));

  const update = latestUpdateTo(host.hostRoot, 'v2');
  assert.ok(update, at('the ledger records the update to v2'));
  assert.ok(update.finishedAt, at(`the update is finished: ${JSON.stringify(update)}`));
  assert.ok(update.outcome === 'succeeded' || update.outcome === 'rolled-back', at(`the update succeeded or was rolled back: ${JSON.stringify(update)}`));
  assert.equal(served, update.outcome === 'succeeded' ? 'v2' : 'v1', at(`outcome ${update.outcome} agrees with what serves`));

  const notes = JSON.parse((await host.get('/api/notes')).body) as { text: string }[];
  for (const text of o.notesBefore) assert.ok(notes.some((n) => n.text === text), at(`the note "${text}" written before the update is still there`));
  const schema = await o.spec.schema(host, step);
  assert.equal(schema, served, at(`the data has the schema of the release that serves (${served}), not ${schema}'s`));
  const write = await host.request('POST', '/api/notes', { body: JSON.stringify({ text: `after a fault at ${step}` }) });
  assert.equal(write.status, 201, at(`the app takes writes again: ${write.status} ${write.body}`));

  const recent = recordedBackups(host.hostRoot).filter((b) => b.createdAt >= o.updateBegan);
  // One after another: a verify holds the host lock.
  for (const backup of recent) {
    const result = await host.cli(['backup', 'verify', 'production', backup.id]);
    assert.equal(result.code, 0, at(`backup ${backup.id}, listed, verifies: ${result.stdout}${result.stderr}`));
  }

  const failed = update.steps.find((s) => s.outcome === 'failed');
  return { served: served as Schema, outcome: update.outcome, failedStep: failed?.name ?? null, recovered: o.recovered };
}

const REFUSING_STEPS = new Set(['lock', 'fetch', 'preflight']);

/** The cell: where the host ended and how it got there. */
export function cellText(r: InvariantResult): string {
  if (r.outcome === 'succeeded') return r.recovered ? '→v2 rolled forward' : '→v2 deployed';
  if (r.recovered) return '→v1 rolled back';
  if (r.failedStep && REFUSING_STEPS.has(r.failedStep)) return `→v1 refused (${r.failedStep})`;
  return `→v1 rolled back (${r.failedStep ?? '?'})`;
}

/** The update to v2 has finished, as the host's ledger records it. */
function latestDeploymentFinished(host: HostFixture): boolean {
  return Boolean(latestUpdateTo(host.hostRoot, 'v2')?.finishedAt);
}

async function withLimit<T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve(null);
    }, ms);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** After a case, passed or failed: its agents stopped and anything they left killed, so the next case has the port. */
async function stopEverything(agents: AgentProcess[], dir: string): Promise<void> {
  await Promise.all(agents.map((a) => a.stop()));
  await killProcessesUnder(dir);
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // The subtest's failure carries the whole message; the cell only hints at it.
  return message.split('\n')[0]!.replace(/^\[\w+\] /, '').slice(0, 28);
}

/** The schema of the notes app's SQLite database on a host: v2's migration adds notes.words. */
export async function sqliteSchema(host: HostFixture): Promise<Schema> {
  return appNoteColumns(host.hostRoot).includes('words') ? 'v2' : 'v1';
}

/**
 * The fixture options of every column: a short health window and drain; a health deadline
 * short enough for a start that must fail (the database away) and long enough for one
 * that must pass on a busy machine (the old release restarted by an undo).
 */
export const FIXTURE_OPTIONS = { healthWindow: '300ms', drainTimeout: '300ms', healthDeadline: '6s' } as const;
