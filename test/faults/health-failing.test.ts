import { rmSync, writeFileSync } from 'node:fs';
import { it } from 'node:test';
import { createHostFixture } from '../helpers/host-fixture.js';
import { FIXTURE_OPTIONS, runFaultColumn, sqliteSchema } from './fault-case.js';
import { buildVariant, FLAGGED_V2_SERVER, flagOf } from './variants.js';

// Fault matrix, column "health check failing": the new release's /healthz starts
// answering 500 while the update is at each step (v2 is built here with one more health
// probe: a flag file in the shared data folder), and heals once the update has ended.
// Before `start` the failure only shows when v2 starts; from `switch` on the health
// window catches it; at `finish` the window has passed and v2 stays.


it('the new release turns unhealthy at every step of an update', { timeout: 240_000 }, async (t) => {
  await runFaultColumn(t, {
    column: 'health-failing',
    async fixture() {
      const base = await createHostFixture(t, { ...FIXTURE_OPTIONS, build: ['v1'] });
      await buildVariant(base, {
        base: 'v2',
        tag: 'v2-flagged',
        version: 'v2',
        files: { 'server.js': FLAGGED_V2_SERVER },
        // A short deadline for v2 alone: flagged from lock to start, it never becomes healthy and start waits it out.
        editProject: (project) => {
          project.services.web.health.deadline = '3s';
        },
      });
      return base;
    },
    spec: {
      pauseWhen: 'before',
      async inject({ host }) {
        writeFileSync(flagOf(host), 'unhealthy\n');
      },
      async lift({ host }) {
        rmSync(flagOf(host), { force: true });
      },
      schema: sqliteSchema,
    },
  });
});
