import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { it } from 'node:test';
import { createHostFixture, type HostFixture } from '../helpers/host-fixture.js';
import { hostLayout } from '../../src/host/layout.js';
import { agentClient } from '../../src/agent/control-client.js';
import { AgentStatusSchema } from '../../src/agent/api.js';
import { SlipwayError } from '../../src/errors.js';

// The agent's control API against a real agent: every body is checked by its call's
// schema (src/agent/api.ts) before anything runs. A malformed one is refused with a
// clear message and exit code 2, and the host is left exactly as it was.

interface RawAnswer {
  status: number;
  json: { error?: { code: string; message: string; details: string[]; exitCode: number; hint?: string } } & Record<string, unknown>;
}

/** One call on the agent's socket with the body as given (not necessarily JSON). */
function rawCall(socketPath: string, method: string, route: string, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: route, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as RawAnswer['json'] });
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What must not change when a call is refused: what the host serves, its history, its releases and backups on disk, maintenance. */
async function hostSnapshot(host: HostFixture) {
  const layout = hostLayout(host.hostRoot);
  const history = JSON.parse((await host.cli(['history', 'production', '--json'])).stdout) as unknown[];
  const status = AgentStatusSchema.parse(JSON.parse((await host.cli(['status', 'production', '--json'])).stdout));
  return {
    state: host.ledgerState(),
    deployments: history.length,
    releases: readdirSync(layout.releasesDir).sort(),
    backups: readdirSync(layout.backupsDir).sort(),
    maintenance: status.maintenance,
    lock: status.lock,
    serving: (await host.get('/version')).body,
  };
}

it('a malformed body to any call of the agent is refused with a usage error, and nothing on the host changes', { timeout: 120_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: ['v1', 'v2'] });
  await host.startAgent();
  for (const version of ['v1', 'v2']) {
    const deployed = await host.cli(['deploy', 'production', '--version', version, '--yes']);
    assert.equal(deployed.code, 0, deployed.stderr);
  }
  const socket = hostLayout(host.hostRoot).agentSocket;
  const before = await hostSnapshot(host);
  assert.equal(before.serving, 'v2');

  const refused: Array<[string, string, string | undefined, RegExp]> = [
    ['POST', '/v1/deploy', '{}', /releaseId/],
    ['POST', '/v1/deploy', JSON.stringify({ releaseId: 5 }), /releaseId: .*expected string/],
    ['POST', '/v1/deploy', JSON.stringify({ releaseId: host.releases.get('v1'), allowOlder: 'yes' }), /allowOlder/],
    ['POST', '/v1/rollback', JSON.stringify({ withData: 'please' }), /withData/],
    ['POST', '/v1/rollback', JSON.stringify({ too: 'v1' }), /Unrecognized key: "too"/],
    ['POST', '/v1/restore', '{}', /backupId/],
    ['POST', '/v1/data/import', JSON.stringify({ backupId: 'b' }), /backupDir/],
    ['POST', '/v1/backup', JSON.stringify({ reason: 'whenever' }), /unknown backup reason "whenever"/],
    ['POST', '/v1/backup/verify', JSON.stringify({ id: 42 }), /id: .*expected string/],
    ['POST', '/v1/backup/fetch', '{}', /id/],
    ['POST', '/v1/backup/prune', JSON.stringify({ dryrun: true }), /Unrecognized key: "dryrun"/],
    ['POST', '/v1/maintenance', JSON.stringify({ mode: 'of' }), /mode/],
    ['POST', '/v1/maintenance', JSON.stringify({ mode: 'on', holdSeconds: -5 }), /holdSeconds/],
    ['POST', '/v1/prune', JSON.stringify({ keep: -1 }), /keep/],
    ['POST', '/v1/prune', JSON.stringify({ keep: 1.5, dryRun: false }), /keep/],
    ['POST', '/v1/stop', JSON.stringify({ now: true }), /Unrecognized key: "now"/],
    ['POST', '/v1/backup/offsite', '[]', /body: .*expected object/],
    ['POST', '/v1/prune', 'null', /body: .*expected object/],
  ];
  for (const [method, route, body, problem] of refused) {
    const answer = await rawCall(socket, method, route, body);
    const what = `${method} ${route} ${body}`;
    assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer.json)}`);
    assert.equal(answer.json.error?.code, 'AGENT_BAD_REQUEST', what);
    assert.equal(answer.json.error?.exitCode, 2, what);
    assert.match(answer.json.error?.message ?? '', new RegExp(`^the agent refused ${method} ${route.replace(/\//g, '\\/')}: `), what);
    assert.match([answer.json.error?.message, ...(answer.json.error?.details ?? [])].join('\n'), problem, what);
    assert.match(answer.json.error?.message ?? '', /nothing was changed/, what);
  }
  const badJson = await rawCall(socket, 'POST', '/v1/prune', '{"keep": ');
  assert.equal(badJson.status, 400);
  assert.equal(badJson.json.error?.code, 'AGENT_BAD_JSON');
  assert.equal(badJson.json.error?.exitCode, 2);

  // Through the CLI's client: a usage error (exit code 2), for a plain call and for a streamed update alike.
  const client = agentClient(socket);
  await assert.rejects(
    () => client.call('prune', { keep: -1 }),
    (error: unknown) => error instanceof SlipwayError && error.code === 'AGENT_BAD_REQUEST' && error.exitCode === 2 && /keep/.test(error.message),
  );
  const events: unknown[] = [];
  await assert.rejects(
    () => client.stream('deploy', { releaseId: '' }, (event) => events.push(event)),
    (error: unknown) => error instanceof SlipwayError && error.code === 'AGENT_BAD_REQUEST' && error.exitCode === 2 && /releaseId/.test(error.message),
  );
  assert.deepEqual(events, [], 'a refused update streams nothing');

  const after = await hostSnapshot(host);
  assert.deepEqual(after, before, 'the refused calls changed nothing');

  // Well-formed calls still work after all that, answers checked by the client against their schemas.
  const pruned = await client.call('prune', { keep: 0, dryRun: true });
  assert.deepEqual(pruned, { removed: [], keep: 0 }, 'v1 and v2 are the previous and current releases: never pruned');
  const status = await client.call('status');
  assert.equal(status.current?.version, 'v2');
  assert.equal(status.previous?.version, 'v1');
});

it('`slipway status --json` is built in one place: the same fields, in the same order, from the agent and without it', { timeout: 120_000 }, async (t) => {
  const host = await createHostFixture(t, { healthWindow: '300ms', build: ['v1'] });
  const agent = await host.startAgent();
  const deployed = await host.cli(['deploy', 'production', '--version', 'v1', '--yes']);
  assert.equal(deployed.code, 0, deployed.stderr);

  const contract = ['environment', 'url', 'current', 'previous', 'health', 'lock', 'maintenance'];
  const running = await host.cli(['status', 'production', '--json']);
  assert.equal(running.code, 0, running.stderr);
  const live = JSON.parse(running.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(live), [...contract, 'agent', 'slots', 'standby', 'recovery', 'backups', 'dataAge']);
  assert.deepEqual(live.current, { id: host.releases.get('v1'), version: 'v1' });
  assert.equal(live.previous, null);
  assert.equal(live.health, 'healthy');
  assert.equal(live.url, `http://127.0.0.1:${host.port}`);
  assert.deepEqual(Object.keys((live.slots as Record<string, unknown>[])[0] ?? {}), ['role', 'name', 'releaseId', 'version', 'port', 'startedAt', 'services']);
  // The CLI prints what the agent answers, unchanged (but for its uptime, which moves).
  const answered = await rawCall(hostLayout(host.hostRoot).agentSocket, 'GET', '/v1/status');
  const withoutUptime = (value: Record<string, unknown>) => ({ ...value, agent: { ...(value.agent as object), uptimeSeconds: 0 } });
  assert.deepEqual(withoutUptime(answered.json), withoutUptime(live));
  assert.equal(JSON.stringify(Object.keys(answered.json)), JSON.stringify(Object.keys(live)));

  await agent.stop();
  const stopped = await host.cli(['status', 'production', '--json']);
  assert.equal(stopped.code, 0, stopped.stderr);
  const offline = JSON.parse(stopped.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(offline), [...contract, 'agent', 'slots', 'dataAge']);
  assert.deepEqual(offline, {
    environment: 'production',
    url: `http://127.0.0.1:${host.port}`,
    current: { id: host.releases.get('v1'), version: 'v1' },
    previous: null,
    health: 'agent not running',
    lock: null,
    maintenance: null,
    agent: null,
    slots: [],
    dataAge: offline.dataAge,
  });
  // The data's age without an agent too: the backup the first deploy's finish took.
  assert.equal((offline.dataAge as { source: string } | null)?.source, 'backup');
  assert.deepEqual(offline.dataAge, live.dataAge);
});
