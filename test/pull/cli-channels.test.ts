// publish, channel set/history, promote and notify, run as the CLI runs them
// (the command modules with a real context) against a real S3 server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { startS3Server, type RunningS3Server } from '../helpers/s3.js';
import { makeRepo, tempDir } from '../release/repo-fixture.js';
import type { CliContext, CommandResult } from '../../src/cli/context.js';
import { SlipwayError } from '../../src/errors.js';
import publish from '../../src/cli/publish.js';
import promote from '../../src/cli/promote.js';
import notify from '../../src/cli/notify.js';
import { channelHistoryCommand, channelSetCommand } from '../../src/cli/channel.js';
import { createS3Store } from '../../src/store/s3-store.js';
import { checkChannelPointer, readChannel } from '../../src/store/channels.js';
import { writeKeyPair } from '../../src/release/sign.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listReleases } from '../../src/store/releases.js';
import { writeHostStatus, type HostStatusReport } from '../../src/store/status-reports.js';
import { startManagementServer } from '../../src/agent/management-server.js';
import type { BlobStore } from '../../src/store/blob-store.js';

const BUCKET = 'cli-test';
const SECRET = 'cli-management-secret-0123456789';
let s3: RunningS3Server;

before(async () => {
  s3 = await startS3Server({ buckets: [BUCKET] });
});
after(() => s3?.stop());

interface Fixture {
  dir: string;
  ctx: CliContext;
  progress: string[];
  store: BlobStore;
  commitTag(tag: string): void;
  run<T>(command: (options: any, ctx: CliContext) => Promise<CommandResult>, options: Record<string, unknown>): Promise<T>;
}

/** A git repo whose slipway.yml keeps staging and production in one S3 bucket (prefix per test). */
async function fixture(t: TestContext, options: { managementPort?: number; stagingStore?: string; productionExtra?: string[] } = {}): Promise<Fixture> {
  const repo = makeRepo(t);
  const prefix = `p${Math.random().toString(36).slice(2, 10)}`;
  const store = `{ type: s3, bucket: ${BUCKET}, endpoint: "${s3.endpoint}", prefix: ${prefix}, force_path_style: true }`;
  repo.write(
    'slipway.yml',
    [
      'app: demo',
      'services:',
      '  web: { command: node server.js }',
      'environments:',
      '  staging:',
      '    port: 18081',
      `    store: ${options.stagingStore ?? store}`,
      '    pull: { interval: 5s }',
      '  production:',
      '    port: 18082',
      `    store: ${store}`,
      '    pull: { interval: 5s }',
      `    management: { port: ${options.managementPort ?? 9}, secret_env: TEST_MANAGEMENT_SECRET }`,
      ...(options.productionExtra ?? []),
      '',
    ].join('\n'),
  );
  repo.write('server.js', 'console.log("v1");\n');
  repo.commit('v1');
  repo.git('tag', 'v1');
  const progress: string[] = [];
  const ctx: CliContext = {
    cwd: repo.dir,
    env: { ...process.env, ...s3.env, SLIPWAY_HOME: tempDir(t), SLIPWAY_WHO: 'ci-bot', TEST_MANAGEMENT_SECRET: SECRET },
    interactive: false,
    canPrompt: false,
    color: false,
    progress: (line) => progress.push(line),
  };
  return {
    dir: repo.dir,
    ctx,
    progress,
    store: await createS3Store({ bucket: BUCKET, endpoint: s3.endpoint, prefix, forcePathStyle: true }, s3.env),
    commitTag(tag) {
      repo.write('server.js', `console.log(${JSON.stringify(tag)});\n`);
      repo.commit(tag);
      repo.git('tag', tag);
    },
    async run(command, commandOptions) {
      const result = await command({ ...commandOptions, json: true }, ctx);
      assert.equal(result.exitCode ?? 0, 0);
      return JSON.parse(result.stdout!);
    },
  };
}

async function refusal(promise: Promise<unknown>, code: string): Promise<SlipwayError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SlipwayError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

function report(o: { host: string; env: string; current: { id: string; version: string }; health: string; outcome: string }): HostStatusReport {
  return {
    host: o.host,
    environment: o.env,
    reportedAt: new Date().toISOString(),
    current: o.current,
    previous: null,
    health: o.health,
    currentDeployment: { id: 3, outcome: o.outcome, finishedAt: new Date().toISOString() },
    lastDeployment: null,
    failedRelease: null,
    channel: null,
  };
}

test('publish builds once, uploads to S3 and moves the channel; channel history and set', async (t) => {
  const f = await fixture(t);
  const first = await f.run<any>(publish, { args: ['production'], ref: 'v1' });
  assert.equal(first.version, 'v1');
  assert.equal(first.built, true);
  assert.equal(first.moved, true);
  assert.deepEqual((await listReleases(f.store, 'demo')).map((r) => r.version), ['v1']);
  const pointer = await readChannel(f.store, 'demo', 'production');
  assert.equal(pointer?.releaseId, first.id);
  assert.equal(pointer?.who, 'ci-bot');
  assert.equal(pointer?.why, 'publish v1');

  const again = await f.run<any>(publish, { args: ['production'], ref: 'v1' });
  assert.deepEqual([again.id, again.built, again.moved], [first.id, false, false], 'the same commit is neither rebuilt nor re-pointed');

  f.commitTag('v2');
  const second = await f.run<any>(publish, { args: ['production'], ref: 'v2', reason: 'ship search' });
  assert.equal(second.previous.version, 'v1');
  assert.equal((await readChannel(f.store, 'demo', 'production'))?.why, 'ship search');

  const set = await f.run<any>(channelSetCommand, { args: ['production', 'v1'], reason: 'v2 breaks search' });
  assert.equal(set.releaseId, first.id);
  assert.equal(set.previous.version, 'v2');

  const history = await f.run<any[]>(channelHistoryCommand, { args: ['production'] });
  assert.deepEqual(history.map((p) => [p.version, p.why]), [['v1', 'v2 breaks search'], ['v2', 'ship search'], ['v1', 'publish v1']], 'newest first');
  const text = await channelHistoryCommand({ args: ['production'] }, f.ctx);
  assert.match(text.stdout!, /^\s*\*\s+\S+ \S+\s+v1\s+/m, 'the current pointer is marked');
  assert.match(text.stdout!, /ci-bot/);

  await refusal(channelSetCommand({ args: ['production', 'v9'] }, f.ctx), 'RELEASE_NOT_FOUND');
  await refusal(publish({ args: ['nowhere'] }, f.ctx), 'CONFIG_UNKNOWN_ENVIRONMENT');
});

test('promote moves only a release that ran healthy in the source, unless --force (recorded)', async (t) => {
  const f = await fixture(t);
  const v1 = await f.run<any>(publish, { args: ['production'], ref: 'v1' });
  f.commitTag('v2');
  const v2 = await f.run<any>(publish, { args: ['staging'], ref: 'v2' });

  // No host of staging has reported anything.
  const unreported = await refusal(promote({ args: ['staging', 'production'] }, f.ctx), 'PROMOTE_NOT_HEALTHY');
  assert.match(unreported.details.join('\n'), /no host of staging has reported/);
  assert.equal((await readChannel(f.store, 'demo', 'production'))?.releaseId, v1.id, 'production did not move');

  // A host runs v2 but it is unhealthy.
  await writeHostStatus(f.store, 'demo', 'staging', 'web-1', report({ host: 'web-1', env: 'staging', current: { id: v2.id, version: 'v2' }, health: 'unhealthy', outcome: 'succeeded' }));
  const unhealthy = await refusal(promote({ args: ['staging', 'production'] }, f.ctx), 'PROMOTE_NOT_HEALTHY');
  assert.match(unhealthy.details.join('\n'), /web-1: it is unhealthy/);
  assert.match(unhealthy.hint ?? '', /--force/);

  // Healthy after a succeeded deployment on every host: promoted.
  await writeHostStatus(f.store, 'demo', 'staging', 'web-1', report({ host: 'web-1', env: 'staging', current: { id: v2.id, version: 'v2' }, health: 'healthy', outcome: 'succeeded' }));
  const promoted = await f.run<any>(promote, { args: ['staging', 'production'] });
  assert.equal(promoted.releaseId, v2.id);
  assert.equal(promoted.forced, false);
  assert.deepEqual(promoted.healthyHosts, ['web-1']);
  const pointer = await readChannel(f.store, 'demo', 'production');
  assert.equal(pointer?.releaseId, v2.id);
  assert.equal(pointer?.why, 'promote v2 from staging');

  // v3 failed its deployment in staging: refused, then forced — and the force is on record.
  f.commitTag('v3');
  const v3 = await f.run<any>(publish, { args: ['staging'], ref: 'v3' });
  await writeHostStatus(f.store, 'demo', 'staging', 'web-1', report({ host: 'web-1', env: 'staging', current: { id: v3.id, version: 'v3' }, health: 'healthy', outcome: 'failed' }));
  await refusal(promote({ args: ['staging', 'production'] }, f.ctx), 'PROMOTE_NOT_HEALTHY');
  const forced = await f.run<any>(promote, { args: ['staging', 'production'], force: true });
  assert.equal(forced.forced, true);
  const forcedPointer = await readChannel(f.store, 'demo', 'production');
  assert.equal(forcedPointer?.releaseId, v3.id);
  assert.match(forcedPointer?.why ?? '', /--force: web-1: its deployment there did not succeed \(failed\)/);
});

test('promote shows what host reports say with control characters escaped, and keeps them as written in the pointer', async (t) => {
  const f = await fixture(t);
  const v1 = await f.run<any>(publish, { args: ['staging'], ref: 'v1' });
  // Whoever can write the store could put terminal escapes in a report (clear the screen, set the title).
  const health = 'sick\x1b[2J\x1b]0;owned\x07';
  await writeHostStatus(f.store, 'demo', 'staging', 'web-1', report({ host: 'web-1', env: 'staging', current: { id: v1.id, version: 'v1' }, health, outcome: 'succeeded' }));

  const refused = await refusal(promote({ args: ['staging', 'production'] }, f.ctx), 'PROMOTE_NOT_HEALTHY');
  assert.deepEqual(refused.details, ['web-1: it is sick\\x1b[2J\\x1b]0;owned\\x07']);
  const forced = await promote({ args: ['staging', 'production'], force: true }, f.ctx);
  assert.match(forced.stdout!, /^production now points to v1 \(\S+\) — forced past: web-1: it is sick\\x1b\[2J\\x1b\]0;owned\\x07$/);
  assert.doesNotMatch(forced.stdout!, /[\x00-\x1f]/, 'no control character reaches the terminal');
  // The pointer's record is data, not a terminal: it keeps the report's words as they were.
  assert.match((await readChannel(f.store, 'demo', 'production'))?.why ?? '', /it is sick\x1b\[2J/);
});

test('promote copies the release when the environments use different stores', async (t) => {
  const localStore = tempDir(t);
  const f = await fixture(t, { stagingStore: `{ type: local, path: "${localStore}" }` });
  const staged = await f.run<any>(publish, { args: ['staging'], ref: 'v1' });
  assert.deepEqual(await listReleases(f.store, 'demo'), [], 'production\'s bucket does not have it yet');
  const { createLocalStore } = await import('../../src/store/local-store.js');
  await writeHostStatus(createLocalStore(localStore), 'demo', 'staging', 'web-1', report({ host: 'web-1', env: 'staging', current: { id: staged.id, version: 'v1' }, health: 'healthy', outcome: 'succeeded' }));
  const promoted = await f.run<any>(promote, { args: ['staging', 'production'] });
  assert.equal(promoted.releaseId, staged.id);
  assert.deepEqual((await listReleases(f.store, 'demo')).map((r) => r.id), [staged.id]);
  assert.ok(f.progress.some((line) => line.startsWith('copying v1')));
});

/** A management server counting notifies, serving `environment` on `host`. */
async function countingAgent(t: TestContext, o: { environment: string; host: string }) {
  const agent = { notified: 0, port: 0 };
  const server = await startManagementServer({
    bind: '127.0.0.1',
    port: 0,
    secret: SECRET,
    environment: o.environment,
    host: o.host,
    log: () => undefined,
    handlers: {
      notify: async () => {
        agent.notified += 1;
        return { checking: true };
      },
      status: async () => ({}),
      rollback: async () => ({}),
      history: async () => [],
      logTail: async () => [],
    },
  });
  t.after(() => server.close());
  agent.port = server.port;
  return agent;
}

test('notify signs a request to the agent\'s management API; a wrong secret, environment or host is refused', async (t) => {
  // slipway.yml names no hostname: production's agent answers to this machine's name.
  const agent = await countingAgent(t, { environment: 'production', host: os.hostname() });
  const f = await fixture(t, { managementPort: agent.port });

  const answer = await f.run<any>(notify, { args: ['production'] });
  assert.deepEqual(answer, { checking: true });
  assert.equal(agent.notified, 1);

  // --url pointing at an agent of another environment, or of another host: refused, and the hint says where to look.
  for (const other of [{ environment: 'staging', host: os.hostname(), reason: 'wrong-environment' }, { environment: 'production', host: `not-${os.hostname()}`, reason: 'wrong-host' }]) {
    const stranger = await countingAgent(t, other);
    const misdirected = await refusal(notify({ args: ['production'], url: `http://127.0.0.1:${stranger.port}` }, f.ctx), 'MANAGEMENT_UNAUTHORIZED');
    assert.match(misdirected.message, new RegExp(`\\(${other.reason}\\)`));
    assert.match(misdirected.hint ?? '', /another environment or host; check --url \/ environments\.production\.hostname/);
    assert.equal(stranger.notified, 0);
  }

  f.ctx.env.TEST_MANAGEMENT_SECRET = 'a different secret of some length';
  const refused = await refusal(notify({ args: ['production'] }, f.ctx), 'MANAGEMENT_UNAUTHORIZED');
  assert.match(refused.message, /\(bad-signature\)/);
  assert.match(refused.hint ?? '', /TEST_MANAGEMENT_SECRET/);
  assert.equal(agent.notified, 1);

  await refusal(notify({ args: ['staging'] }, f.ctx), 'MANAGEMENT_NOT_CONFIGURED');
  delete f.ctx.env.TEST_MANAGEMENT_SECRET;
  await refusal(notify({ args: ['production'] }, f.ctx), 'MANAGEMENT_SECRET_MISSING');
});

test('with require_signature, publish and channel set write signed pointers whose counter grows; a rollback is a new, higher pointer; no key: nothing moves', async (t) => {
  const keys = await writeKeyPair(path.join(tempDir(t), 'keys'), 'release');
  const f = await fixture(t, { productionExtra: ['    require_signature: true', `    public_keys: [${JSON.stringify(keys.publicKey)}]`] });
  const policy = { required: true, publicKeysPem: [fs.readFileSync(keys.publicKey, 'utf8')] };

  const unsignedTry = await refusal(publish({ args: ['production'], ref: 'v1' }, f.ctx), 'SIGNING_KEY_REQUIRED');
  assert.equal(unsignedTry.exitCode, 2);
  assert.equal(await readChannel(f.store, 'demo', 'production'), null, 'nothing moved');

  await f.run<any>(publish, { args: ['production'], ref: 'v1', key: keys.privateKey });
  const first = (await readChannel(f.store, 'demo', 'production'))!;
  assert.equal(first.counter, 1);
  assert.ok(first.signature, 'the pointer is signed');
  checkChannelPointer({ app: 'demo', env: 'production', pointer: first, policy, lastAcceptedCounter: null });

  f.commitTag('v2');
  const before = Date.now();
  await f.run<any>(publish, { args: ['production'], ref: 'v2', key: keys.privateKey, expires: '1h' });
  const second = (await readChannel(f.store, 'demo', 'production'))!;
  assert.equal(second.counter, 2);
  const expiresIn = Date.parse(second.expires!) - before;
  assert.ok(expiresIn > 3_590_000 && expiresIn < 3_700_000, `expires in ${expiresIn} ms`);
  checkChannelPointer({ app: 'demo', env: 'production', pointer: second, policy, lastAcceptedCounter: 1 });

  // Rolling back through the channel: a new pointer naming v1, counter 3, signed like any other.
  const rollback = await f.run<any>(channelSetCommand, { args: ['production', 'v1'], key: keys.privateKey, reason: 'v2 breaks search' });
  assert.equal(rollback.counter, 3);
  assert.equal(rollback.releaseId, first.releaseId);
  checkChannelPointer({ app: 'demo', env: 'production', pointer: (await readChannel(f.store, 'demo', 'production'))!, policy, lastAcceptedCounter: 2 });

  await refusal(channelSetCommand({ args: ['production', 'v2'], key: keys.privateKey, expires: 'soon' }, f.ctx), 'EXPIRES_INVALID');
  await refusal(channelSetCommand({ args: ['production', 'v2'] }, f.ctx), 'SIGNING_KEY_REQUIRED');
  assert.equal((await readChannel(f.store, 'demo', 'production'))?.counter, 3, 'refused commands moved nothing');
});

test('status of every environment: pull-mode environments served elsewhere are read from their hosts\' reports in the store', async (t) => {
  const f = await fixture(t);
  const { default: statusCommand } = await import('../../src/cli/status-dispatch.js');
  const v3 = { id: '3'.repeat(64), version: 'v3' };
  const finished = new Date(Date.now() - 60_000).toISOString();
  const dataAge = (at: string) => ({ source: 'backup', at, environment: null, backupId: `${at.slice(0, 10).replace(/-/g, '')}T000000Z-abcdef` });
  await writeHostStatus(f.store, 'demo', 'production', 'web-1', {
    ...report({ host: 'web-1', env: 'production', current: v3, health: 'healthy', outcome: 'succeeded' }),
    lastDeployment: { id: 3, kind: 'deploy', releaseId: v3.id, version: 'v3', outcome: 'succeeded', startedAt: finished, finishedAt: finished, error: null },
    dataAge: dataAge(new Date(Date.now() - 3_600_000).toISOString()),
  });
  await writeHostStatus(f.store, 'demo', 'production', 'web-2', { ...report({ host: 'web-2', env: 'production', current: v3, health: 'healthy', outcome: 'succeeded' }), dataAge: dataAge(new Date(Date.now() - 7_200_000).toISOString()) });
  const lines = await f.run<Array<{ environment: string; host: string; current: { version: string } | null; health: string; dataAge: { seconds: number } | null; lastChange: { kind: string; to: string; outcome: string } | null; error?: string }>>(statusCommand, { args: [] });
  const production = lines.find((l) => l.environment === 'production')!;
  assert.equal(production.host, '2 hosts');
  assert.equal(production.current?.version, 'v3');
  assert.equal(production.health, 'healthy');
  assert.ok(production.dataAge && production.dataAge.seconds >= 7_000, 'the oldest data any host reports');
  assert.deepEqual(production.lastChange && { kind: production.lastChange.kind, to: production.lastChange.to, outcome: production.lastChange.outcome }, { kind: 'deploy', to: 'v3', outcome: 'succeeded' });
  const staging = lines.find((l) => l.environment === 'staging')!;
  assert.equal(staging.current, null);
  assert.equal(staging.error, 'no host has reported to the store yet');
});
