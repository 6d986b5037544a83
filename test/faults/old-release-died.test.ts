import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { createHostFixture, waitUntil } from '../helpers/host-fixture.js';
import { FIXTURE_OPTIONS, runFaultCase, sqliteSchema } from './fault-case.js';
import { buildVariant, FLAGGED_V2_SERVER, flagOf } from './variants.js';

// The process twin of container-engine-restart.test.ts's case at watch: in v2's health window
// (after its migration ran) v1's process, drained and unrouted, is killed (-9), and v2 turns
// unhealthy. v1 here refuses to start on data of v2's schema, as an app that checks its schema
// when it boots, so its supervisor's restarts fail and it is not running when the undo comes.
// The undo must start v1 only once migrate's undo has restored v1's data: started before, on
// v2's data, it fails and the switch's undo with it. After it, the invariant of fault-case.ts.

const STRICT_V1_SERVER = `// notes v1 for the fault tests: it refuses data of a newer schema (v2's notes.words), at start and in its health check
import { openDatabase } from './db.js';
import { runNotesServer } from './app.js';

const APP_VERSION = 'v1';

async function ownSchema(db) {
  if ((await db.columnsOf('notes')).includes('words')) throw new Error('the data has a newer schema than v1 knows (notes.words)');
}

const db = await openDatabase();
try {
  await ownSchema(db);
} catch (err) {
  console.error(\`notes v1: \${err.message}: not starting\`);
  process.exit(1);
} finally {
  await db.close();
}
await runNotesServer({ version: APP_VERSION, healthProbes: [ownSchema] });
`;


it("v1's process killed in v2's health window, after v2 migrated, and v2 turns unhealthy", { timeout: 180_000 }, async (t) => {
  const base = await createHostFixture(t, { ...FIXTURE_OPTIONS, build: [] });
  await buildVariant(base, { base: 'v1', tag: 'v1-strict', version: 'v1', files: { 'server.js': STRICT_V1_SERVER } });
  await buildVariant(base, { base: 'v2', tag: 'v2-flagged', version: 'v2', files: { 'server.js': FLAGGED_V2_SERVER } });

  const result = await runFaultCase(
    base,
    {
      pauseWhen: 'before',
      async inject({ host }) {
        writeFileSync(flagOf(host), 'unhealthy\n');
        // v1 served first, from slot blue; v2 serves from green.
        const pid = (JSON.parse(readFileSync(path.join(host.hostRoot, 'run', 'web.blue.pid'), 'utf8')) as { pgid: number }).pgid;
        process.kill(-pid, 'SIGKILL');
        // Its supervisor restarts it (500 ms), it refuses v2's data, and the next restart is 2 s away after one more:
        // the undo, a few hundred ms after the update goes on, finds it not running.
        const log = path.join(host.hostRoot, 'logs', 'web.blue.log');
        await waitUntil('v1 to fail its second restart', () => readFileSync(log, 'utf8').includes('restarting in 2000ms'), 15_000);
      },
      async lift({ host }) {
        rmSync(flagOf(host), { force: true });
      },
      schema: sqliteSchema,
    },
    'watch',
  );
  assert.deepEqual([result.served, result.outcome, result.failedStep], ['v1', 'rolled-back', 'watch']);
});
