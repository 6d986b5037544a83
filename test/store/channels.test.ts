import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSlipwayError } from '../../src/errors.js';
import { channelHistory, readChannel, writeChannel, type ChannelPointer } from '../../src/store/channels.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { tempDir } from '../helpers/cli.js';

const corrupt = (error: unknown) => isSlipwayError(error) && error.code === 'CHANNEL_CORRUPT';

function pointer(n: number, overrides: Partial<ChannelPointer> = {}): ChannelPointer {
  return {
    environment: 'production',
    releaseId: String(n).repeat(64).slice(0, 64),
    version: `v${n}`,
    who: 'ci',
    when: `2025-01-0${n}T12:00:00.000Z`,
    why: `ship v${n}`,
    ...overrides,
  };
}

test('an environment without a channel reads as null with an empty history', async (t) => {
  const store = createLocalStore(tempDir(t, 'slipway-store-'));
  assert.equal(await readChannel(store, 'notes', 'production'), null);
  assert.deepEqual(await channelHistory(store, 'notes', 'production'), []);
});

test('writeChannel moves the pointer; the history keeps every move, oldest first', async (t) => {
  const store = createLocalStore(tempDir(t, 'slipway-store-'));
  await writeChannel(store, 'notes', pointer(1));
  assert.deepEqual(await readChannel(store, 'notes', 'production'), { ...pointer(1), counter: 1 });
  await writeChannel(store, 'notes', pointer(2));
  await writeChannel(store, 'notes', pointer(3, { why: 'roll forward' }));
  // back to v1: a move like any other, appended
  await writeChannel(store, 'notes', pointer(1, { when: '2025-01-04T12:00:00.000Z', why: 'roll back' }));

  // every move has the last counter + 1, a rollback included
  assert.deepEqual(await readChannel(store, 'notes', 'production'), { ...pointer(1, { when: '2025-01-04T12:00:00.000Z', why: 'roll back' }), counter: 4 });
  const history = await channelHistory(store, 'notes', 'production');
  assert.deepEqual(
    history.map((p) => [p.version, p.why, p.counter]),
    [
      ['v1', 'ship v1', 1],
      ['v2', 'ship v2', 2],
      ['v3', 'roll forward', 3],
      ['v1', 'roll back', 4],
    ],
  );
  // each environment has its own pointer and history
  await writeChannel(store, 'notes', pointer(2, { environment: 'staging' }));
  assert.equal((await readChannel(store, 'notes', 'staging'))?.version, 'v2');
  assert.equal((await channelHistory(store, 'notes', 'production')).length, 4);
  assert.equal((await channelHistory(store, 'notes', 'staging')).length, 1);
});

test('history is ordered by time even when a later move sorts first by name', async (t) => {
  const store = createLocalStore(tempDir(t, 'slipway-store-'));
  // the release id of the second move sorts before the first's: order must come from the time
  await writeChannel(store, 'notes', pointer(9, { when: '2025-01-01T09:00:00.000Z' }));
  await writeChannel(store, 'notes', pointer(1, { when: '2025-01-01T10:00:00.000Z' }));
  assert.deepEqual(
    (await channelHistory(store, 'notes', 'production')).map((p) => p.version),
    ['v9', 'v1'],
  );
});

test('a corrupt pointer is CHANNEL_CORRUPT with a hint, never a crash or a silent null', async (t) => {
  const store = createLocalStore(tempDir(t, 'slipway-store-'));
  const key = 'notes/channels/production.json';
  for (const body of ['{ not json', '[]', JSON.stringify({ ...pointer(1), releaseId: 'short' }), JSON.stringify({ ...pointer(1), extra: true }), '']) {
    await store.put(key, body);
    await assert.rejects(readChannel(store, 'notes', 'production'), (error: unknown) => {
      assert.ok(corrupt(error), `${JSON.stringify(body)}: ${String(error)}`);
      assert.ok(isSlipwayError(error) && error.hint, 'no hint');
      assert.match((error as Error).message, /notes\/channels\/production\.json/);
      return true;
    });
  }
  // a corrupt entry in the history is reported too, naming it
  await writeChannel(store, 'notes', pointer(1));
  const [entry] = await store.list('notes/channels/production/history');
  await store.put(entry!, '{');
  await assert.rejects(channelHistory(store, 'notes', 'production'), corrupt);
});
