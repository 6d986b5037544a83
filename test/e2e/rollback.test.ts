import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createHostFixture, processesUnder, waitUntil } from '../helpers/host-fixture.js';
import { startLoad } from '../helpers/load.js';

// DESIGN.md promise #2 (rollback in one command) and CONTRACT.md's JSON shapes of
// `status --json` and `history --json`, through the real CLI and agent.

const STATUS_KEYS = ['environment', 'url', 'current', 'previous', 'health', 'lock', 'maintenance'];
const HISTORY_KEYS = ['id', 'kind', 'from', 'to', 'outcome', 'startedAt', 'finishedAt', 'steps'].sort();
const STEP_KEYS = ['name', 'outcome', 'ms'].sort();

function assertStatusShape(status: Record<string, unknown>, expected: { current: string | null; previous: string | null; port: number }): void {
  for (const key of STATUS_KEYS) assert.ok(key in status, `status --json has "${key}": ${JSON.stringify(status)}`);
  assert.equal(status.environment, 'production');
  assert.equal(status.url, `http://127.0.0.1:${expected.port}`);
  for (const which of ['current', 'previous'] as const) {
    const value = status[which] as { id: string; version: string } | null;
    if (expected[which] === null) assert.equal(value, null, which);
    else {
      assert.deepEqual(Object.keys(value!).sort(), ['id', 'version'], `${which} is { id, version }`);
      assert.equal(value!.version, expected[which]);
      assert.match(value!.id, /^[0-9a-f]{64}$/);
    }
  }
  assert.equal(typeof status.health, 'string');
  assert.equal(status.lock, null);
  assert.equal(status.maintenance, null);
}

it('rolls back to the previous release and forward with --to; refuses with exit 2 when there is nothing to go back to; status and history JSON keep the contract', { timeout: 120_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '500ms', build: ['v1', 'v2'] });
  const agent = await host.startAgent();

  const empty = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
  assertStatusShape(empty, { current: null, previous: null, port: host.port });
  assert.deepEqual(JSON.parse((await host.cli(['history', 'production', '--json'])).stdout), []);

  assert.equal((await host.cli(['deploy', 'production', '--version', 'v1', '--yes'])).code, 0);
  const nothingBefore = await host.cli(['rollback', 'production', '--yes']);
  assert.equal(nothingBefore.code, 2, `no previous release: a usage error (exit 2):\n${nothingBefore.stderr}`);
  assert.match(nothingBefore.stderr, /no previous release/);
  assert.match(nothingBefore.stderr, /hint: /);
  assert.equal((await host.get('/version')).body, 'v1', 'nothing changed');

  const v2 = await host.cli(['deploy', 'production', '--version', 'v2', '--yes']);
  assert.equal(v2.code, 0, v2.stderr);
  const afterV2 = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
  assertStatusShape(afterV2, { current: 'v2', previous: 'v1', port: host.port });
  assert.equal(afterV2.health, 'healthy');
  assert.equal(afterV2.current.id, host.releases.get('v2'));

  // The rollback under load: blue/green without maintenance, not one request fails.
  const load = startLoad({
    port: host.port,
    clients: 4,
    maxRequests: 3000,
    maxDurationMs: 30_000,
    nextRequest: (seq) => (seq % 2 ? { method: 'GET', path: '/version' } : { method: 'GET', path: '/api/notes' }),
    keepBody: (r) => r.path === '/version',
  });
  await waitUntil('the load to get going', () => load.finished() >= 100);
  const back = await host.cli(['rollback', 'production', '--yes']);
  const rolledBackAt = load.now();
  await waitUntil('requests after the rollback', () => load.finished() >= 400, 30_000).catch(() => undefined);
  const report = await load.stop();
  assert.equal(report.connectionErrors + report.non2xx, 0, `failed requests during the rollback: ${report.errorMessages.join(' | ')}`);
  const versions = report.samples.filter((s) => s.request.path === '/version');
  assert.ok(versions.some((s) => s.body === 'v2'), 'v2 answered before the rollback');
  assert.deepEqual(versions.filter((s) => s.startMs > rolledBackAt && s.body !== 'v1').map((s) => s.body), [], 'only v1 answers once the rollback is done');
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /now serves v1/);
  assert.equal((await host.get('/version')).body, 'v1');
  assert.equal(host.currentId(), host.releases.get('v1'));
  assert.deepEqual(host.ledgerState(), { currentId: host.releases.get('v1'), previousId: host.releases.get('v2') });
  assert.equal((await host.get('/healthz')).status, 200, 'v1 runs on the data v2 migrated');

  const forward = await host.cli(['rollback', 'production', '--to', 'v2', '--yes']);
  assert.equal(forward.code, 0, forward.stderr);
  assert.equal((await host.get('/version')).body, 'v2');
  assert.equal(host.currentId(), host.releases.get('v2'));
  assertStatusShape(JSON.parse((await host.cli(['status', 'production', '--json'])).stdout), { current: 'v2', previous: 'v1', port: host.port });

  const unknown = await host.cli(['rollback', 'production', '--to', 'v9', '--yes']);
  assert.notEqual(unknown.code, 0, 'an unknown --to target fails');
  assert.match(unknown.stderr, /v9/);
  assert.equal((await host.get('/version')).body, 'v2');

  const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as Record<string, any>[];
  for (const entry of history) {
    assert.deepEqual(Object.keys(entry).sort(), HISTORY_KEYS, `history entry keys: ${JSON.stringify(entry)}`);
    assert.ok(Array.isArray(entry.steps));
    for (const step of entry.steps) assert.deepEqual(Object.keys(step).sort(), STEP_KEYS, `step keys: ${JSON.stringify(step)}`);
    assert.ok(Number.isFinite(Date.parse(entry.startedAt)));
    assert.ok(Number.isFinite(Date.parse(entry.finishedAt)));
  }
  // Newest first: the rollback forward, the rollback, the deploys. Refusals that changed nothing are not deployments.
  assert.deepEqual(
    history.map((d) => `${d.kind} ${d.from ?? '-'}→${d.to}:${d.outcome}`),
    ['rollback v1→v2:succeeded', 'rollback v2→v1:succeeded', 'deploy v1→v2:succeeded', 'deploy -→v1:succeeded'],
  );
  const steps = history[0]!.steps.map((s: { name: string }) => s.name);
  assert.deepEqual(steps, ['lock', 'fetch', 'preflight', 'backup', 'maintenance', 'migrate', 'start', 'switch', 'watch', 'finish']);

  // The agent stops cleanly: the app's processes go with it.
  const exit = await agent.stop();
  assert.equal(exit.code, 0);
  assert.deepEqual(processesUnder(host.dir), [], 'no process is left after the agent stopped');
  const stopped = JSON.parse((await host.cli(['status', 'production', '--json'])).stdout);
  assertStatusShape(stopped, { current: 'v2', previous: 'v1', port: host.port });
  assert.equal(stopped.health, 'agent not running');
});
