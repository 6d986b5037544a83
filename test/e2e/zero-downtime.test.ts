import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createHostFixture, waitUntil } from '../helpers/host-fixture.js';
import { notesTraffic, startLoad, type LoadReport } from '../helpers/load.js';

// The promise of DESIGN.md #4, end to end with the real CLI, agent, proxy and app:
// v1 → v2 (a migration: writes held, reads served) under load loses no request and
// no write; v3 (its health check fails) under load is refused and v2 keeps serving.

function describeFailures(report: LoadReport, marks: Record<string, number> = {}): string {
  return `${report.connectionErrors} connection errors, ${report.non2xx} non-2xx of ${report.sent} sent; statuses ${JSON.stringify(report.statuses)}; step marks (ms) ${JSON.stringify(marks)}; first: ${report.errorMessages.join(' | ')}`;
}

/** The notes whose POST was answered 201, as the app reported them. */
function writtenNotes(report: LoadReport): { id: number; text: string }[] {
  return report.samples
    .filter((s) => s.request.method === 'POST' && s.status === 201)
    .map((s) => JSON.parse(s.body!) as { id: number; text: string });
}

it('deploys v1 → v2 under load with no failed request and no lost write; v3 is refused under load and v2 keeps serving', { timeout: 180_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '1s', healthDeadline: '6s' });
  await host.startAgent();
  const first = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal((await host.get('/version')).body, 'v1');

  // --- v1 → v2 under load ------------------------------------------------------
  const load = startLoad({
    port: host.port,
    clients: 8,
    maxRequests: 4000,
    maxDurationMs: 30_000,
    nextRequest: notesTraffic({ writeEvery: 8, tag: 'during-v2-deploy' }),
    keepBody: (r) => r.method === 'POST',
  });
  // Readers only: the mixed clients above end up each waiting on a held write, so reads are measured apart.
  const readers = startLoad({
    port: host.port,
    clients: 2,
    maxRequests: 4000,
    maxDurationMs: 30_000,
    nextRequest: (seq) => (seq % 2 === 0 ? { method: 'GET', path: '/' } : { method: 'GET', path: '/api/notes' }),
  });
  await waitUntil('the load to get going', () => load.finished() >= 200);
  const running = host.spawnCli(['deploy', 'production', '--version', 'v2', '--yes']);
  // When the CLI printed each step's end, on the load's time line.
  const marks: Record<string, number> = {};
  const readerMarks: Record<string, number> = {};
  for (const step of ['maintenance', 'migrate', 'start']) {
    void running.waitFor(new RegExp(`✓ ${step} `)).then(
      () => {
        marks[step] = load.now();
        readerMarks[step] = readers.now();
      },
      () => undefined,
    );
  }
  const deployV2 = await running.result;
  const finishedAtDeploy = load.finished();
  // Some traffic after the switch too, so requests that reach v2 count.
  await waitUntil('requests after the deploy', () => load.finished() >= finishedAtDeploy + 300 || load.finished() >= 3900, 30_000).catch(() => undefined);
  const report = await load.stop();

  assert.equal(deployV2.code, 0, deployV2.stderr);
  assert.match(deployV2.stderr, /maintenance.*writes held/, 'v2 migrates: writes are held during its migration');
  assert.ok(marks.maintenance !== undefined && marks.migrate !== undefined && marks.start !== undefined, `step marks: ${JSON.stringify(marks)}`);
  const heldWrites = report.samples.filter((s) => s.request.method === 'POST' && s.startMs > marks.maintenance!);
  assert.ok(heldWrites.length > 0, 'writes were sent during the maintenance window');
  const earlyWrites = heldWrites.filter((s) => s.startMs + s.ms < marks.migrate!);
  assert.deepEqual(earlyWrites.map((s) => s.seq), [], 'no write sent after maintenance began was answered before the migration ended');
  const readersReport = await readers.stop();
  assert.equal(readersReport.connectionErrors + readersReport.non2xx, 0, describeFailures(readersReport, marks));
  const readsDuringMigration = readersReport.samples.filter((s) => s.startMs > readerMarks.maintenance! && s.startMs + s.ms < readerMarks.start!);
  assert.ok(readsDuringMigration.length > 0, 'reads were answered while writes were held');
  assert.equal(report.connectionErrors + report.non2xx, 0, describeFailures(report, marks));
  assert.ok(report.answered >= 500, `the load ran (${report.answered} answers)`);
  assert.equal((await host.get('/version')).body, 'v2');

  const written = writtenNotes(report);
  assert.ok(written.length > 20, `notes were written during the deploy (${written.length})`);
  const inV2 = JSON.parse((await host.get('/api/notes')).body) as { id: number; text: string; words?: number }[];
  const byId = new Map(inV2.map((n) => [n.id, n]));
  const lost = written.filter((n) => byId.get(n.id)?.text !== n.text);
  assert.deepEqual(lost, [], `${lost.length} of ${written.length} notes written during the deploy are missing in v2`);
  assert.ok(inV2.every((n) => typeof n.words === 'number'), 'v2 serves the migrated schema (every note has words)');

  // --- v3 (health check fails) under load -----------------------------------------
  const load3 = startLoad({
    port: host.port,
    clients: 8,
    maxRequests: 4000,
    maxDurationMs: 30_000,
    nextRequest: notesTraffic({ writeEvery: 8, tag: 'during-v3-attempt' }),
    keepBody: (r) => r.method === 'POST',
  });
  await waitUntil('the load to get going', () => load3.finished() >= 200);
  const deployV3 = await host.cli(['deploy', 'production', '--version', 'v3', '--yes']);
  const finishedAtV3 = load3.finished();
  await waitUntil('requests after the attempt', () => load3.finished() >= finishedAtV3 + 200 || load3.finished() >= 3900, 30_000).catch(() => undefined);
  const report3 = await load3.stop();

  assert.equal(deployV3.code, 1, `deploy v3 must fail with exit 1:\n${deployV3.stderr}`);
  assert.match(deployV3.stderr, /health/i, 'the message names the health check');
  assert.match(deployV3.stderr, /v2 is serving/, 'the message says what serves now');
  assert.equal(report3.connectionErrors + report3.non2xx, 0, describeFailures(report3));
  assert.equal((await host.get('/version')).body, 'v2');
  const status = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
  assert.equal(status.current.version, 'v2');
  assert.equal(status.health, 'healthy');

  const written3 = writtenNotes(report3);
  const after = new Map((JSON.parse((await host.get('/api/notes')).body) as { id: number; text: string }[]).map((n) => [n.id, n.text]));
  assert.deepEqual(written3.filter((n) => after.get(n.id) !== n.text), [], 'no note written during the refused deploy is lost');

  const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as { to: string; outcome: string }[];
  assert.deepEqual(history.slice(0, 3).map((d) => `${d.to}:${d.outcome}`), ['v3:rolled-back', 'v2:succeeded', 'v1:succeeded']);
  t.diagnostic(`v1→v2: ${report.answered} answers in ${Math.round(report.durationMs)} ms, ${written.length} notes written; v3 attempt: ${report3.answered} answers`);
});

it('switches back under load when the new release fails its health window after the switch', { timeout: 120_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '2s', build: ['v1'] });
  // v5 passes the two health probes of the start step, then fails every later one.
  await host.addRelease(
    'v5',
    [
      "import { runNotesServer } from './app.js';",
      'let probes = 0;',
      "await runNotesServer({ version: 'v5', healthProbes: [async () => { probes += 1; if (probes > 2) throw new Error('v5 turns unhealthy after the switch, on purpose'); }] });",
      '',
    ].join('\n'),
  );
  await host.startAgent();
  const v1 = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(v1.code, 0, v1.stderr);

  const load = startLoad({ port: host.port, clients: 4, maxRequests: 4000, maxDurationMs: 30_000, nextRequest: notesTraffic({ writeEvery: 8, tag: 'during-v5' }) });
  await waitUntil('the load to get going', () => load.finished() >= 100);
  const v5 = await host.cli(['deploy', 'production', '--version', 'v5', '--yes']);
  const finishedAtDeploy = load.finished();
  await waitUntil('requests after the deploy', () => load.finished() >= finishedAtDeploy + 200 || load.finished() >= 3900, 30_000).catch(() => undefined);
  const report = await load.stop();

  assert.equal(v5.code, 1, v5.stderr);
  assert.match(v5.stderr, /v5 failed its health window after the switch/);
  assert.match(v5.stderr, /switch.*back|switched back/i);
  assert.match(v5.stderr, /v1 is serving/);
  assert.equal(report.connectionErrors + report.non2xx, 0, describeFailures(report));
  assert.equal((await host.get('/version')).body, 'v1');
  assert.equal(host.currentId(), host.releases.get('v1'));
  assert.deepEqual(host.ledgerState(), { currentId: host.releases.get('v1'), previousId: null });

  const [latest] = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as { to: string; outcome: string; steps: { name: string; outcome: string }[] }[];
  assert.equal(latest!.to, 'v5');
  assert.equal(latest!.outcome, 'rolled-back');
  assert.ok(latest!.steps.some((s) => s.name === 'watch' && s.outcome === 'failed'), JSON.stringify(latest!.steps));
  // The ledger keeps one row per step start, undos included ("a name may repeat … (a retry, an undo)").
  await t.test('history records the undone switch', () => {
    const last = Object.fromEntries(latest!.steps.map((s) => [s.name, s.outcome]));
    assert.equal(last.switch, 'undone', `steps: ${JSON.stringify(latest!.steps)}`);
  });
});
