import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { TestContext } from 'node:test';
import {
  AGENT_ROUTES,
  AgentStatusSchema,
  DeployRequestSchema,
  MANAGEMENT_ROUTES,
  ManagementRollbackRequestSchema,
  MaintenanceRequestSchema,
  PruneRequestSchema,
  RollbackRequestSchema,
  badRequest,
  callName,
} from '../../src/agent/api.js';
import { buildAgentStatus } from '../../src/agent/status.js';
import { signRequest } from '../../src/agent/management-auth.js';
import { startManagementServer, type ManagementHandlers } from '../../src/agent/management-server.js';

const SECRET = 'schemas test secret, long enough';

test('every call of the control socket and of the management API has one schema per body and per answer, and a distinct route', () => {
  for (const table of [AGENT_ROUTES, MANAGEMENT_ROUTES]) {
    const calls = Object.values(table).map((spec) => callName(spec));
    assert.equal(new Set(calls).size, calls.length, `two calls share a route: ${calls.join(', ')}`);
    for (const spec of Object.values(table)) {
      assert.ok(spec.request.safeParse !== undefined && spec.response.safeParse !== undefined, callName(spec));
      assert.match(spec.path, /^\/v1\//);
    }
  }
  assert.deepEqual(Object.values(AGENT_ROUTES).map((spec) => callName(spec)).sort(), [
    'GET /v1/status',
    'POST /v1/backup',
    'POST /v1/backup/fetch',
    'POST /v1/backup/offsite',
    'POST /v1/backup/prune',
    'POST /v1/backup/verify',
    'POST /v1/data/import',
    'POST /v1/deploy',
    'POST /v1/maintenance',
    'POST /v1/prune',
    'POST /v1/restore',
    'POST /v1/rollback',
    'POST /v1/stop',
  ]);
});

test('request schemas take what the CLI sends and refuse wrong types, unknown keys and out-of-range values', () => {
  assert.ok(DeployRequestSchema.safeParse({ releaseId: 'a'.repeat(64), version: 'v1', who: 'ci', reason: 'deploy v1', allowOlder: false }).success);
  assert.ok(RollbackRequestSchema.safeParse({ withData: false, who: 'me', reason: 'rollback' }).success);
  assert.ok(PruneRequestSchema.safeParse({ dryRun: true }).success);
  assert.ok(MaintenanceRequestSchema.safeParse({ mode: 'on', holdSeconds: 30 }).success);
  assert.ok(ManagementRollbackRequestSchema.safeParse({ to: null }).success);

  for (const [schema, body] of [
    [DeployRequestSchema, { releaseId: '' }],
    [DeployRequestSchema, { releaseId: 'x', allowOlder: 1 }],
    [RollbackRequestSchema, { to: 3 }],
    [RollbackRequestSchema, { withdata: true }],
    [PruneRequestSchema, { keep: -1 }],
    [PruneRequestSchema, { keep: '3' }],
    [MaintenanceRequestSchema, { mode: 'maybe' }],
    [MaintenanceRequestSchema, { mode: 'on', holdSeconds: 7200 }],
    [ManagementRollbackRequestSchema, { to: 'v1', force: true }],
  ] as const) {
    assert.equal(schema.safeParse(body).success, false, JSON.stringify(body));
  }
});

test('a refused body is a usage error that names the call, the field and the problem', () => {
  const parsed = PruneRequestSchema.safeParse({ keep: -1, dryrun: true });
  assert.ok(!parsed.success);
  const error = badRequest('POST /v1/prune', parsed.error);
  assert.equal(error.code, 'AGENT_BAD_REQUEST');
  assert.equal(error.exitCode, 2);
  const text = [error.message, ...error.details].join('\n');
  assert.match(error.message, /^the agent refused POST \/v1\/prune: /);
  assert.match(text, /keep: /);
  assert.match(text, /Unrecognized key: "dryrun"/);
  assert.match(error.hint ?? '', /restart the agent/);
});

test('the status of a host without an agent has the contract fields, an empty slot list and no agent', () => {
  const status = buildAgentStatus({
    environment: { name: 'production', bind: '0.0.0.0' },
    port: 8080,
    state: { currentId: 'c'.repeat(64), previousId: null },
    versionOf: (id) => (id.startsWith('c') ? 'v2' : null),
    health: 'agent not running',
    lock: null,
    maintenance: { mode: 'off' },
    dataAge: null,
  });
  assert.deepEqual(status, {
    environment: 'production',
    url: 'http://127.0.0.1:8080',
    current: { id: 'c'.repeat(64), version: 'v2' },
    previous: null,
    health: 'agent not running',
    lock: null,
    maintenance: null,
    agent: null,
    slots: [],
    dataAge: null,
  });
  assert.deepEqual(AgentStatusSchema.parse(status), status, 'it is an AgentStatus, unchanged by parsing');
});

function signedCall(port: number, method: string, path: string, body = ''): Promise<{ status: number; json: { error?: { code: string; message: string; exitCode: number } } }> {
  const signed = signRequest({ secret: SECRET, method, path, body, environment: 'production', host: 'web-1', hostHeader: `127.0.0.1:${port}` });
  const headers = { ...signed, ...(body ? { 'content-type': 'application/json' } : {}) };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }));
    });
    req.on('error', reject);
    req.end(body || undefined);
  });
}

async function serve(t: TestContext) {
  const calls: string[] = [];
  const handlers: ManagementHandlers = {
    notify: async () => (calls.push('notify'), { checking: true }),
    status: async () => (calls.push('status'), { environment: 'production' }),
    rollback: async (body) => (calls.push(`rollback ${JSON.stringify(body)}`), { ok: true, releaseId: 'r' }),
    history: async () => (calls.push('history'), []),
    logTail: async () => [],
  };
  const server = await startManagementServer({ bind: '127.0.0.1', port: 0, secret: SECRET, environment: 'production', host: 'web-1', handlers, log: () => undefined });
  t.after(() => server.close());
  return { port: server.port, calls };
}

test('the management API refuses a signed body its schema does not accept, and no handler runs', async (t) => {
  const { port, calls } = await serve(t);
  for (const [method, path, body, field] of [
    ['POST', '/v1/rollback', JSON.stringify({ to: 'v1', force: true }), /Unrecognized key: "force"/],
    ['POST', '/v1/rollback', JSON.stringify({ reason: 5 }), /reason/],
    ['POST', '/v1/notify', JSON.stringify({ release: 'v2' }), /Unrecognized key: "release"/],
  ] as const) {
    const answer = await signedCall(port, method, path, body);
    assert.equal(answer.status, 400, `${method} ${path} ${body}`);
    assert.equal(answer.json.error?.code, 'BAD_REQUEST');
    assert.equal(answer.json.error?.exitCode, 2);
    assert.match(answer.json.error?.message ?? '', field);
    assert.match(answer.json.error?.message ?? '', /nothing was done/);
  }
  assert.deepEqual(calls, []);
  // The good ones go through, `to` empty or null meaning the previous release.
  assert.equal((await signedCall(port, 'POST', '/v1/rollback', JSON.stringify({ to: '', reason: 'test' }))).status, 200);
  assert.equal((await signedCall(port, 'POST', '/v1/rollback', JSON.stringify({ to: null }))).status, 200);
  assert.equal((await signedCall(port, 'POST', '/v1/notify', '{}')).status, 200);
  assert.deepEqual(calls, ['rollback {"reason":"test"}', 'rollback {}', 'notify']);
});
