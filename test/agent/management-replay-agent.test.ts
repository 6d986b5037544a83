/**
 * A captured management request against real agents (`slipway agent` processes of two
 * environments sharing one secret, S3 store, pull mode): the agent it was meant for takes
 * it once; the other environment's agent refuses it; the same agent refuses it again
 * after a restart; a fresh request is accepted.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { signRequest } from '../../src/agent/management-auth.js';
import { createPullFixture, MANAGEMENT_SECRET, type PullFixture } from '../helpers/pull-fixture.js';
import { waitUntil } from '../helpers/wait-until.js';

interface Answer {
  status: number;
  reason?: string;
  checking?: boolean;
}

function notifyRequest(f: PullFixture, env: string): Record<string, string> {
  const hostHeader = `127.0.0.1:${f.envs[env]!.managementPort}`;
  const signed = signRequest({ secret: MANAGEMENT_SECRET, method: 'POST', path: '/v1/notify', body: '{}', environment: env, host: f.hostname, hostHeader });
  return { ...signed, host: hostHeader, 'content-type': 'application/json' };
}

function post(port: number, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/notify', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as object) }));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

test('real agents: a captured request is taken once, refused by another environment, and refused after a restart', { timeout: 180_000 }, async (t) => {
  const f = await createPullFixture(t, { environments: ['production', 'staging'] });
  const production = await f.startAgent('production');
  const staging = await f.startAgent('staging');
  const port = (env: string) => f.envs[env]!.managementPort;

  const captured = notifyRequest(f, 'production');
  const first = await post(port('production'), captured);
  assert.equal(first.status, 200, JSON.stringify(first));
  assert.equal(first.checking, true);

  // the staging agent shares the secret: as captured, and with the Host header made to look like its own
  const replayed = await post(port('staging'), captured);
  assert.equal(replayed.status, 401, JSON.stringify(replayed));
  assert.equal(replayed.reason, 'wrong-environment');
  const reHosted = await post(port('staging'), { ...captured, host: `127.0.0.1:${port('staging')}` });
  assert.equal(reHosted.reason, 'wrong-environment');
  const reNamed = await post(port('staging'), { ...captured, 'x-slipway-environment': 'staging' });
  assert.equal(reNamed.reason, 'bad-signature');
  await waitUntil('the staging agent logs the refusal', () => /management: refused POST \/v1\/notify from \S+: wrong-environment/.test(staging.output()), 10_000);

  assert.equal((await post(port('production'), captured)).reason, 'replayed');
  const nonceFile = path.join(f.envs.production!.hostRoot, 'run', 'management-nonces');
  assert.equal(statSync(nonceFile).mode & 0o777, 0o600);

  // the agent restarts within the request's window: it still knows the nonce
  await production.stop();
  const restarted = await f.startAgent('production');
  const replay = await post(port('production'), captured);
  assert.equal(replay.status, 401, JSON.stringify(replay));
  assert.equal(replay.reason, 'replayed');
  await waitUntil('the restarted agent logs the replay', () => /management: refused POST \/v1\/notify from \S+: replayed/.test(restarted.output()), 10_000);
  const fresh = await post(port('production'), notifyRequest(f, 'production'));
  assert.equal(fresh.status, 200, JSON.stringify(fresh));
  assert.equal((await post(port('staging'), notifyRequest(f, 'staging'))).status, 200);
});
