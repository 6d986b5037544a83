/**
 * Two (or ten) commands moving the same channel at the same moment read the same last
 * counter. The writers must not give the same counter to two pointers: an agent would
 * accept both, in either order, so a stale one could come back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlipwayError } from '../../src/errors.js';
import { channelHistory, readChannel, writeChannel, type ChannelPointer } from '../../src/store/channels.js';
import { createLocalStore } from '../../src/store/local-store.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { tempDir } from '../helpers/temp-dir.js';

function pointer(n: number): ChannelPointer {
  return { environment: 'production', releaseId: (n % 10).toString().repeat(64), version: `v${n}`, who: `writer ${n}`, when: new Date().toISOString(), why: `race ${n}` };
}

/** A store whose reads are slow: every writer reads the channel before any of them writes. */
function slowReads(store: BlobStore, ms: number): BlobStore {
  const wait = () => new Promise((r) => setTimeout(r, ms));
  return {
    description: store.description,
    put: (key, body) => store.put(key, body),
    putFile: (key, file, o) => store.putFile(key, file, o),
    get: async (key, o) => (await wait(), store.get(key, o)),
    getToFile: (key, dest) => store.getToFile(key, dest),
    getRange: (key, start, end) => store.getRange(key, start, end),
    exists: (key) => store.exists(key),
    list: async (prefix) => (await wait(), store.list(prefix)),
    delete: (key) => store.delete(key),
  };
}

for (const writers of [2, 6]) {
  test(`${writers} commands moving one channel at once never get the same counter`, async (t) => {
    const store = slowReads(createLocalStore(tempDir(t, 'slipway-store-')), 20);
    await writeChannel(store, 'notes', pointer(0));
    const written = await Promise.all(Array.from({ length: writers }, (_, i) => writeChannel(store, 'notes', pointer(i + 1))));
    const counters = written.map((p) => p.counter!).sort((a, b) => a - b);
    // all different, all past the first pointer's (two writers that saw each other both skip a counter: gaps are fine)
    assert.equal(new Set(counters).size, writers, `counters ${counters.join(', ')}`);
    assert.ok(counters[0]! > 1, `counters ${counters.join(', ')}`);
    // the history holds each move once, with its own counter; no entry given up is left behind
    const history = await channelHistory(store, 'notes', 'production');
    assert.equal(history.length, writers + 1);
    assert.deepEqual(history.map((p) => p.counter!).sort((a, b) => a - b), [1, ...counters]);
    // the pointer is one of the moves, and the next move is past every counter given
    const current = await readChannel(store, 'notes', 'production');
    assert.ok(written.some((p) => p.counter === current?.counter && p.version === current?.version));
    assert.equal((await writeChannel(store, 'notes', pointer(99))).counter, Math.max(...counters) + 1);
  });
}

test('a forged pointer claiming the largest counter stops the next move with a clear error, writing nothing', async (t) => {
  const dir = tempDir(t, 'slipway-store-');
  const store = createLocalStore(dir);
  await store.put('notes/channels/production.json', JSON.stringify({ ...pointer(1), counter: Number.MAX_SAFE_INTEGER }));
  const before = await store.list('notes');
  await assert.rejects(writeChannel(store, 'notes', pointer(2)), (e: unknown) => e instanceof SlipwayError && e.code === 'CHANNEL_COUNTER_EXHAUSTED' && /largest counter/.test(e.message));
  assert.deepEqual(await store.list('notes'), before);
});
