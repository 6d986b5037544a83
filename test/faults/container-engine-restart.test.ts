import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { PipelineStepName } from '../../src/config/types.js';
import { ENGINE_WAIT_MS } from '../../src/runtime/engine-wait.js';
import { requirePrivateEngine, startPrivateEngine, type PrivateEngine } from '../helpers/docker-private-engine.js';
import { NODE_BASE_IMAGE, ensureNodeBaseImage, requireDocker } from '../helpers/docker.js';
import { cellOf, createContainerFixture, runContainerCase, type ContainerFaultSpec } from './container-fixture.js';

// Fault matrix, container column "engine restarted", with a real engine: a dockerd of this
// file's own (the machine's shared engine is never touched: other tests use it meanwhile),
// without live-restore, as a package upgrade or a service manager restarts it. Unlike the
// proxy cut of container-exit.test.ts, its containers do not run on:
//
// - at start: the engine is restarted (SIGTERM, which stops every container first, v1's
//   serving one too) as the update starts v2, and answers again a moment later;
// - at watch: the engine crashes (SIGKILL: its containers run on, unwatched) in the health
//   window after the switch, and once it starts again it stops the containers it finds
//   (v1's too: the undo must start v1 only once migrate's undo has restored its data).
//
// The agent waits for the engine as slipway does outside tests (ENGINE_WAIT_MS). After each:
// a complete release answers with data of its schema, its container the only one running,
// no one-off container left (assertContainerInvariant).

/** How long the engine stays down before it is started again (it then takes 1-3 s to answer). */
const AWAY_MS = 1_000;

it('a real Docker engine restarted while the update starts v2, and crashed in its health window', { timeout: 300_000 }, async (t) => {
  if (!requireDocker(t) || !requirePrivateEngine(t)) return;
  ensureNodeBaseImage();
  const engine = await startPrivateEngine(t);
  await engine.loadImage(NODE_BASE_IMAGE);
  const fx = await createContainerFixture(t, { dockerHost: engine.dockerHost, healthWindow: '3s' });
  const cells: string[] = [];

  let back: Promise<void> | undefined;
  let startsBefore = 0;
  /** The engine goes down (its way), and is started again AWAY_MS after the update goes on. */
  const restartAt = (signal: 'SIGTERM' | 'SIGKILL'): ContainerFaultSpec => ({
    when: 'before',
    agentEnv: { SLIPWAY_TEST_ENGINE_WAIT_MS: String(ENGINE_WAIT_MS) },
    async inject() {
      startsBefore = engineStarts(engine);
      await engine.stop(signal);
      back = new Promise<void>((resolve) => setTimeout(resolve, AWAY_MS)).then(() => engine.start());
      // (a failed start is the lift's to report)
      back.catch(() => undefined);
    },
    async lift() {
      await back;
    },
  });
  const cases: { label: string; step: PipelineStepName; spec: ContainerFaultSpec }[] = [
    { label: 'engine restarted', step: 'start', spec: restartAt('SIGTERM') },
    { label: 'engine crashed', step: 'watch', spec: restartAt('SIGKILL') },
  ];
  const only = process.env.SLIPWAY_FAULT_STEP;
  for (const c of cases.filter((x) => !only || x.step === only)) {
    await t.test(`${c.label} at ${c.step}`, async () => {
      try {
        const result = await runContainerCase(fx, { ...c.spec, more: async (x) => assertEngineCameBack(engine, startsBefore, x.agent.output()) }, c.step, c.label.replace(' ', '-'));
        cells.push(`${c.label} at ${c.step}: ${cellOf(result)}`);
      } catch (error) {
        cells.push(`${c.label} at ${c.step}: RED ${(error as Error).message.split('\n')[0]}`);
        throw error;
      } finally {
        await back?.catch(() => undefined);
        if (!engine.isRunning()) await engine.start();
      }
    });
  }
  t.diagnostic('container column "engine restarted" (a real dockerd):');
  for (const cell of cells) t.diagnostic(`  ${cell}`);
});

const engineStarts = (engine: PrivateEngine) => engine.log().match(/Daemon has completed initialization/g)?.length ?? 0;

/** The engine really went away and came back during the case: it runs, and its log shows one start more. */
async function assertEngineCameBack(engine: PrivateEngine, startsBefore: number, agentOutput: string): Promise<void> {
  assert.ok(engine.isRunning(), 'the engine runs again');
  assert.equal(engineStarts(engine), startsBefore + 1, `the engine started again once:\n${engine.log().split('\n').slice(-20).join('\n')}\nagent:\n${agentOutput}`);
}
