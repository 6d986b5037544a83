// Notify against the real agent: with a poll interval of an hour, only a
// signed POST /v1/notify makes the agent look at its channel. Unsigned, wrongly
// signed, expired and replayed requests get 401 and start nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signRequest, type SignInput } from '../../src/agent/management-auth.js';
import { createPullFixture, MANAGEMENT_SECRET, waitUntil, type PullFixture } from '../helpers/pull-fixture.js';

interface Answer {
  status: number;
  json: any;
}

async function post(f: PullFixture, path: string, o: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const response = await fetch(`${f.envs.production!.managementUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close', ...o.headers },
    body: o.body ?? '{}',
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, json: await response.json().catch(() => null) };
}

/** Signed for production's agent on this machine, as `slipway notify` signs it; `o` may sign it for another. */
function sign(f: PullFixture, o: Partial<SignInput> & { secret: string; body: string }) {
  return signRequest({ method: 'POST', path: '/v1/notify', environment: 'production', host: f.hostname, hostHeader: new URL(f.envs.production!.managementUrl).host, ...o });
}

test('notify makes the agent check at once; bad signatures get 401 and start no deployment', { timeout: 120_000 }, async (t) => {
  const f = await createPullFixture(t, { pullInterval: '1h' });
  await f.cliOk(['publish', 'production', '--ref', 'v1']);
  const agent = await f.startAgent('production');
  // The first poll is at start; the next one would be an hour later.
  await f.waitForVersion('production', 'v1');

  await f.cliOk(['publish', 'production', '--ref', 'v2']);
  const notified = await f.cli(['notify', 'production']);
  assert.equal(notified.code, 0, notified.stderr);
  assert.match(notified.stdout, /told the agent of production/);
  await f.waitForVersion('production', 'v2');
  await f.waitForReport('production', 'v2 healthy', (r) => r.current?.version === 'v2' && r.health === 'healthy');
  const historyBefore = await f.history('production');
  assert.equal(historyBefore.length, 2);

  // A correctly signed notify with nothing new to do: accepted, and kept to replay later.
  const body = '{}';
  const captured = sign(f, { secret: MANAGEMENT_SECRET, body });
  const accepted = await post(f, '/v1/notify', { headers: captured, body });
  assert.equal(accepted.status, 200, JSON.stringify(accepted.json));
  assert.equal(accepted.json.checking, true);

  // Now there is something to do: any accepted notify would roll production back to v1.
  const set = await f.cli(['channel', 'set', 'production', 'v1']);
  assert.equal(set.code, 0, set.stderr);

  const looksBefore = (agent.output().match(/channel production names/g) ?? []).length;
  const refusals: [string, () => Promise<Answer>, string][] = [
    ['unsigned', () => post(f, '/v1/notify', { body }), 'missing-signature'],
    ['wrong signature', () => post(f, '/v1/notify', { headers: sign(f, { secret: 'another-secret-of-enough-length-0123', body }), body }), 'bad-signature'],
    [
      'expired timestamp',
      () => post(f, '/v1/notify', { headers: sign(f, { secret: MANAGEMENT_SECRET, body, timestamp: Math.floor(Date.now() / 1000) - 300 }), body }),
      'stale-timestamp',
    ],
    ['signed for staging', () => post(f, '/v1/notify', { headers: sign(f, { secret: MANAGEMENT_SECRET, body, environment: 'staging' }), body }), 'wrong-environment'],
    ['signed for another host', () => post(f, '/v1/notify', { headers: sign(f, { secret: MANAGEMENT_SECRET, body, host: `not-${f.hostname}` }), body }), 'wrong-host'],
    ['signed for another Host header', () => post(f, '/v1/notify', { headers: sign(f, { secret: MANAGEMENT_SECRET, body, hostHeader: 'agent.example:9090' }), body }), 'bad-signature'],
    ['replayed', () => post(f, '/v1/notify', { headers: captured, body }), 'replayed'],
  ];
  for (const [name, send, reason] of refusals) {
    await t.test(`${name} → 401, nothing done`, async () => {
      const answer = await send();
      assert.equal(answer.status, 401, JSON.stringify(answer.json));
      assert.equal(answer.json?.error?.code, 'UNAUTHORIZED');
      assert.equal(answer.json?.reason, reason);
      // The agent logs the refusal too (its output reaches us a moment after the answer).
      const logged = new RegExp(`management: refused POST /v1/notify from \\S+: ${reason}`);
      await waitUntil(`the agent to log the ${reason} refusal`, () => logged.test(agent.output()), 10_000);
    });
  }
  // A notify would have started the rollback at once; give it well over that time, then check nothing moved.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.deepEqual(await f.history('production'), historyBefore, 'no deployment was started');
  assert.equal(await f.version('production'), 'v2');
  assert.equal((agent.output().match(/channel production names/g) ?? []).length, looksBefore, 'the agent did not act on the channel');
  assert.equal(agent.child.exitCode, null, 'the agent still runs');

  // The same change, with a good signature: done at once.
  const good = await post(f, '/v1/notify', { headers: sign(f, { secret: MANAGEMENT_SECRET, body }), body });
  assert.equal(good.status, 200);
  await f.waitForVersion('production', 'v1');
  await f.waitForReport('production', 'v1 deployed', (r) => r.current?.version === 'v1' && r.currentDeployment?.outcome === 'succeeded');
  const after = await f.history('production');
  assert.equal(after.length, 3);
  assert.deepEqual([after[0]!.from, after[0]!.to, after[0]!.outcome], ['v2', 'v1', 'succeeded']);

  // The CLI with the wrong secret is refused too (and says why).
  const wrong = await f.cli(['notify', 'production'], { env: { SLIPWAY_MANAGEMENT_SECRET: 'not-the-secret-but-long-enough-000' } });
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, /refused the request \(bad-signature\)/);
  await agent.stop();
});
