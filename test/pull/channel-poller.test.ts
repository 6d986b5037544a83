import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startS3Server, type RunningS3Server } from '../helpers/s3.js';
import { tempDir } from '../release/repo-fixture.js';
import { createS3Store } from '../../src/store/s3-store.js';
import { writeChannel, type ChannelPointer } from '../../src/store/channels.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { startChannelPoller, type ApplyResult, type ChannelPoller } from '../../src/agent/channel-poller.js';

const BUCKET = 'poller-test';
let s3: RunningS3Server;

before(async () => {
  s3 = await startS3Server({ buckets: [BUCKET] });
});
after(() => s3?.stop());

const RELEASE = { v1: '1'.repeat(64), v2: '2'.repeat(64), v3: '3'.repeat(64) } as const;
type Version = keyof typeof RELEASE;

function pointer(version: Version, why = `publish ${version}`): ChannelPointer {
  return { environment: 'production', releaseId: RELEASE[version], version, who: 'ci', when: new Date().toISOString(), why };
}

/** The real S3 store, counting what the poller asks of it. */
async function countingStore(prefix: string) {
  const inner = await createS3Store({ bucket: BUCKET, endpoint: s3.endpoint, prefix, forcePathStyle: true }, s3.env);
  const counts = { get: 0, conditional: 0, notModified: 0 };
  const store: BlobStore = {
    ...inner,
    get: (key) => {
      counts.get += 1;
      return inner.get(key);
    },
    getIfChanged: async (key, etag) => {
      counts.conditional += 1;
      const result = await inner.getIfChanged!(key, etag);
      if (result?.notModified) counts.notModified += 1;
      return result;
    },
  };
  return { store, counts };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function recorder(decide: (p: ChannelPointer) => ApplyResult = () => ({ ok: true })) {
  const calls: string[] = [];
  return {
    calls,
    onChange: async (p: ChannelPointer) => {
      calls.push(p.version);
      return decide(p);
    },
  };
}

function start(store: BlobStore, options: Partial<Parameters<typeof startChannelPoller>[0]> & Pick<Parameters<typeof startChannelPoller>[0], 'onChange'>): ChannelPoller {
  const lines: string[] = [];
  return startChannelPoller({ store, app: 'demo', env: 'production', intervalMs: 40, jitterMs: 10, log: (line) => lines.push(line), ...options });
}

test('a new pointer is applied once; an unchanged pointer costs only conditional requests', async (t) => {
  const { store, counts } = await countingStore('changes');
  await writeChannel(store, 'demo', pointer('v1'));
  counts.get = 0; // the writer reads the last pointer for its counter; only the poller's reads count
  const applied = recorder();
  const poller = start(store, { onChange: applied.onChange });
  t.after(() => poller.stop());

  await waitFor('v1 applied', () => applied.calls.length === 1);
  await waitFor('four polls answered "not modified"', () => poller.state().unchanged >= 4);
  assert.deepEqual(applied.calls, ['v1'], 'an unchanged pointer is not applied again');
  assert.equal(counts.get, 0, 'the poller never downloads unconditionally');
  assert.ok(counts.notModified >= 4, `expected "not modified" answers, got ${counts.notModified}`);

  await writeChannel(store, 'demo', pointer('v2'));
  await waitFor('v2 applied', () => applied.calls.length === 2);
  assert.deepEqual(applied.calls, ['v1', 'v2']);
  assert.equal(poller.state().lastPointer?.version, 'v2');
});

test('a release that failed here is not retried until the pointer moves, even after a restart', async (t) => {
  const { store } = await countingStore('failing');
  const stateFile = path.join(tempDir(t), 'pull-state.json');
  const applied = recorder((p) => (p.version === 'v2' ? { ok: false, error: 'health check failed' } : { ok: true }));
  await writeChannel(store, 'demo', pointer('v2'));
  let poller = start(store, { onChange: applied.onChange, stateFile });

  await waitFor('v2 tried', () => applied.calls.length === 1);
  assert.equal(poller.state().failedRelease?.id, RELEASE.v2);
  // The pointer object changes (new etag) but still names v2: not retried.
  await writeChannel(store, 'demo', pointer('v2', 'publish v2 again'));
  await poller.checkNow();
  await poller.checkNow();
  assert.deepEqual(applied.calls, ['v2']);

  // A restarted agent remembers the failure.
  await poller.stop();
  poller = start(store, { onChange: applied.onChange, stateFile });
  t.after(() => poller.stop());
  await waitFor('first poll after restart', () => poller.state().polls >= 2);
  assert.deepEqual(applied.calls, ['v2']);
  assert.equal(poller.state().failedRelease?.version, 'v2');

  // The channel moves on: the new release is applied, the failure forgotten…
  await writeChannel(store, 'demo', pointer('v3'));
  await waitFor('v3 applied', () => applied.calls.length === 2);
  assert.equal(poller.state().failedRelease, null);
  // …and pointing back at v2 tries it once more.
  await writeChannel(store, 'demo', pointer('v2', 'fixed the config, try v2 again'));
  await waitFor('v2 retried', () => applied.calls.length === 3);
  assert.deepEqual(applied.calls, ['v2', 'v3', 'v2']);
});

test('a failure marked for retry (not the release\'s fault) is tried again at the next poll', async (t) => {
  const { store } = await countingStore('retry');
  let attempts = 0;
  const applied = recorder(() => {
    attempts += 1;
    return attempts < 3 ? { ok: false, error: 'the host is locked', retry: true } : { ok: true };
  });
  await writeChannel(store, 'demo', pointer('v1'));
  const poller = start(store, { onChange: applied.onChange });
  t.after(() => poller.stop());
  await waitFor('three attempts', () => applied.calls.length === 3);
  assert.equal(poller.state().failedRelease, null);
});

test('checkNow polls at once, and never runs two applies at the same time', async (t) => {
  const { store } = await countingStore('check-now');
  let running = 0;
  let most = 0;
  const calls: string[] = [];
  const poller = start(store, {
    intervalMs: 3_600_000,
    initialDelayMs: 3_600_000,
    onChange: async (p) => {
      running += 1;
      most = Math.max(most, running);
      calls.push(p.version);
      await sleep(150);
      running -= 1;
      return { ok: true };
    },
  });
  t.after(() => poller.stop());
  await writeChannel(store, 'demo', pointer('v1'));
  assert.equal(poller.state().polls, 0, 'no poll before the (long) first interval');
  await poller.checkNow();
  assert.deepEqual(calls, ['v1'], 'checkNow resolves after the pointer was applied');

  await writeChannel(store, 'demo', pointer('v2'));
  const first = poller.checkNow();
  await waitFor('v2 being applied', () => calls.length === 2);
  await writeChannel(store, 'demo', pointer('v3'));
  await Promise.all([first, poller.checkNow(), poller.checkNow()]);
  assert.deepEqual(calls, ['v1', 'v2', 'v3']);
  assert.equal(most, 1);
});

test('a host that already runs the pointer\'s release does not redeploy it', async (t) => {
  const { store } = await countingStore('current');
  await writeChannel(store, 'demo', pointer('v1'));
  const applied = recorder();
  const poller = start(store, { onChange: applied.onChange, currentReleaseId: () => RELEASE.v1 });
  t.after(() => poller.stop());
  await waitFor('a few polls', () => poller.state().polls >= 3);
  assert.deepEqual(applied.calls, []);
});
