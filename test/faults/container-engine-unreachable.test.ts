import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PIPELINE_STEPS } from '../../src/config/types.js';
import { requireDocker } from '../helpers/docker.js';
import { cellOf, createContainerFixture, runContainerCase } from './container-fixture.js';

// Fault matrix, container column "engine unreachable": the agent's Docker engine stops
// answering (its socket, a proxy, is cut: every open connection dropped, new ones find no
// socket) before each step of the update v1 → v2 of a container app, and comes back once
// a step has failed (the undo waits for it to restart the old release on its restored data)
// or the update has ended. The engine's containers run on meanwhile, as they do when only the
// engine's API is down. After each: a complete release serves with data of its schema, its
// container is the only one running, no one-off container is left, and the next deploy
// (the engine back) goes through.

it('the Docker engine unreachable at every step of a container update', { timeout: 600_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const fx = await createContainerFixture(t);
  const cells: string[] = [];
  const only = process.env.SLIPWAY_FAULT_STEP;
  for (const step of PIPELINE_STEPS.filter((s) => !only || s === only)) {
    await t.test(`engine unreachable at ${step}`, async () => {
      try {
        const result = await runContainerCase(
          fx,
          {
            when: 'before',
            liftOnFailure: true,
            inject: ({ host }) => host.proxy.cut(),
            lift: ({ host }) => host.proxy.restore(),
            async more({ host, result, deployResult, letPass }) {
              if (step === 'finish' && result.outcome === 'succeeded') {
                // The update was done; v1's stop found no engine: the output must not claim it stopped.
                const output = deployResult.stdout + deployResult.stderr;
                assert.match(output, /asked v1 to stop, but its service web still runs: the Docker engine did not answer/, `[${step}] the finish line says the stop waits:\n${output}`);
                assert.doesNotMatch(output, /stopped v1/, `[${step}]:\n${output}`);
              }
              if (result.outcome === 'rolled-back') {
                assert.match(deployResult.stdout + deployResult.stderr, /Docker engine/, `[${step}] the failure names the engine:\n${deployResult.stderr}`);
                // One case is enough to show it (each deploy costs seconds).
                if (step !== 'start') return;
                letPass();
                const again = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
                assert.equal(again.code, 0, `[${step}] deploy v2 with the engine back:\n${again.stdout}${again.stderr}`);
                assert.equal((await host.request('GET', '/version')).body, 'v2');
              }
            },
          },
          step,
          'unreachable',
        );
        cells.push(`${step}: ${cellOf(result)}`);
      } catch (error) {
        cells.push(`${step}: RED ${(error as Error).message.split('\n')[0]}`);
        throw error;
      }
    });
  }
  t.diagnostic('container column "engine unreachable":');
  for (const cell of cells) t.diagnostic(`  ${cell}`);
});
