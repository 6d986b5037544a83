import { it } from 'node:test';
import { createHostFixture } from '../helpers/host-fixture.js';
import { FIXTURE_OPTIONS, runFaultColumn, sqliteSchema } from './fault-case.js';

// Fault matrix, column "CLI SIGKILL": `slipway deploy` is killed while the agent is at
// each step. The CLI only watches: the agent finishes the update (or undoes it) on its
// own, and the host ends on one complete release.

it('the deploy command killed at every step: the agent carries the update through alone', { timeout: 240_000 }, async (t) => {
  await runFaultColumn(t, {
    column: 'cli-sigkill',
    fixture: () => createHostFixture(t, { ...FIXTURE_OPTIONS, build: ['v1', 'v2'] }),
    spec: {
      pauseWhen: 'before',
      async inject(c) {
        c.deploy.child.kill('SIGKILL');
        await c.deploy.result;
      },
      schema: sqliteSchema,
    },
  });
});
