/**
 * Signed channel pointers: a real local store, the real poller and the agent's own check
 * (checkChannelPointer), the last accepted counter kept in a real host ledger. Each refusal
 * (unsigned, another environment, a lower counter, expired, an untrusted or broken
 * signature) applies nothing and says why in the log and the poller's state; a rollback
 * through the channel (a new pointer naming an older release) is accepted.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { startChannelPoller, type ChannelPoller } from '../../src/agent/channel-poller.js';
import { ensureHostLayout, hostLayout } from '../../src/host/layout.js';
import { openLedger, type Ledger } from '../../src/host/ledger.js';
import { generateSigningKeyPair } from '../../src/release/sign.js';
import { checkChannelPointer, readChannel, writeChannel, type ChannelPointer } from '../../src/store/channels.js';
import { createLocalStore } from '../../src/store/local-store.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { tempDir } from '../helpers/temp-dir.js';

const APP = 'demo';
const ENV = 'production';
const RELEASE = { v1: '1'.repeat(64), v2: '2'.repeat(64), v3: '3'.repeat(64) } as const;
type Version = keyof typeof RELEASE;
const trusted = generateSigningKeyPair();
const stranger = generateSigningKeyPair();

function pointer(version: Version, o: { env?: string; expires?: string } = {}): ChannelPointer {
  return { environment: o.env ?? ENV, releaseId: RELEASE[version], version, who: 'ci', when: new Date().toISOString(), why: `publish ${version}`, ...(o.expires ? { expires: o.expires } : {}) };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Rig {
  store: BlobStore;
  storeDir: string;
  ledger: Ledger;
  applied: string[];
  lines: string[];
  start(): ChannelPoller;
}

async function rig(t: TestContext): Promise<Rig> {
  const root = tempDir(t);
  const storeDir = path.join(root, 'store');
  const store = createLocalStore(storeDir);
  const layout = hostLayout(path.join(root, 'host'));
  await ensureHostLayout(layout);
  const ledger = openLedger(layout.ledgerFile);
  t.after(() => ledger.close());
  const applied: string[] = [];
  const lines: string[] = [];
  const key = `channel_counter:${ENV}`;
  return {
    store,
    storeDir,
    ledger,
    applied,
    lines,
    start() {
      const poller = startChannelPoller({
        store,
        app: APP,
        env: ENV,
        intervalMs: 30,
        jitterMs: 5,
        log: (line) => lines.push(line),
        currentReleaseId: () => ledger.getState().currentId,
        checkPointer: (p, last) => checkChannelPointer({ app: APP, env: ENV, pointer: p, policy: { required: true, publicKeysPem: [trusted.publicKeyPem] }, lastAcceptedCounter: last }),
        acceptedCounter: {
          get: () => (ledger.getStateValue(key) === null ? null : Number(ledger.getStateValue(key))),
          set: (counter) => ledger.setStateValue(key, String(counter)),
        },
        onChange: async (p) => {
          applied.push(p.version);
          ledger.setCurrent({ currentId: p.releaseId, previousId: ledger.getState().currentId });
          return { ok: true };
        },
      });
      t.after(() => poller.stop());
      return poller;
    },
  };
}

const pointerFile = (r: Rig, env = ENV) => path.join(r.storeDir, APP, 'channels', `${env}.json`);

/** Polls twice more, then checks that nothing more was applied and the refusal is in the log and the state. */
async function assertRefused(r: Rig, poller: ChannelPoller, code: string, appliedBefore: string[]): Promise<void> {
  await poller.checkNow();
  await poller.checkNow();
  assert.deepEqual(r.applied, appliedBefore, 'a refused pointer was applied');
  const state = poller.state();
  assert.match(state.refusedPointer ?? '', /refused/);
  assert.equal(state.lastError, state.refusedPointer, 'the refusal is the poller\'s lastError (what status shows)');
  assert.ok(r.lines.some((l) => l.includes('refused the channel pointer')), `no refusal in the log:\n${r.lines.join('\n')}`);
  assert.equal(r.lines.filter((l) => l === r.lines.find((x) => x.includes('refused the channel pointer'))).length, 1, 'the refusal is logged once, not at every poll');
  void code;
}

test('writeChannel: each pointer of a channel has the last counter + 1 and is signed when a key is given', async (t) => {
  const r = await rig(t);
  const first = await writeChannel(r.store, APP, pointer('v1'), { signingKeyPem: trusted.privateKeyPem });
  const second = await writeChannel(r.store, APP, pointer('v2'), { signingKeyPem: trusted.privateKeyPem });
  const other = await writeChannel(r.store, APP, pointer('v1', { env: 'staging' }), { signingKeyPem: trusted.privateKeyPem });
  assert.deepEqual([first.counter, second.counter, other.counter], [1, 2, 1]);
  assert.ok(second.signature);
  assert.deepEqual(await readChannel(r.store, APP, ENV), second);
  checkChannelPointer({ app: APP, env: ENV, pointer: second, policy: { required: true, publicKeysPem: [trusted.publicKeyPem] }, lastAcceptedCounter: 1 });
});

test('an unsigned pointer is refused (CHANNEL_POINTER_UNSIGNED): nothing applied, said in the log and the state; a signed one is then accepted', async (t) => {
  const r = await rig(t);
  await writeChannel(r.store, APP, pointer('v1'));
  const poller = r.start();
  await assertRefused(r, poller, 'CHANNEL_POINTER_UNSIGNED', []);
  assert.match(poller.state().refusedPointer!, /not signed/);
  await writeChannel(r.store, APP, pointer('v1'), { signingKeyPem: trusted.privateKeyPem });
  await waitFor('v1 applied', () => r.applied.length === 1);
  assert.equal(poller.state().refusedPointer, null);
  assert.equal(poller.state().lastError, null);
});

test('a pointer signed by an untrusted key, or changed after signing, is refused', async (t) => {
  const r = await rig(t);
  await writeChannel(r.store, APP, pointer('v1'), { signingKeyPem: stranger.privateKeyPem });
  const poller = r.start();
  await assertRefused(r, poller, 'CHANNEL_POINTER_SIGNATURE_INVALID', []);
  assert.match(poller.state().refusedPointer!, /does not trust/);
  // The poller polls every 30 ms: stopped while the good pointer is in the store for a moment, it never sees it.
  await poller.stop();
  const good = await writeChannel(r.store, APP, pointer('v1'), { signingKeyPem: trusted.privateKeyPem });
  fs.writeFileSync(pointerFile(r), JSON.stringify({ ...good, releaseId: RELEASE.v3, version: 'v3' }));
  const again = r.start();
  await again.checkNow();
  await again.checkNow();
  assert.deepEqual(r.applied, []);
  assert.match(again.state().refusedPointer!, /does not verify/);
});

test('a signed pointer for another environment is refused (CHANNEL_POINTER_WRONG_ENVIRONMENT)', async (t) => {
  const r = await rig(t);
  await writeChannel(r.store, APP, pointer('v2', { env: 'staging' }), { signingKeyPem: trusted.privateKeyPem });
  fs.mkdirSync(path.dirname(pointerFile(r)), { recursive: true });
  fs.copyFileSync(pointerFile(r, 'staging'), pointerFile(r));
  const poller = r.start();
  await assertRefused(r, poller, 'CHANNEL_POINTER_WRONG_ENVIRONMENT', []);
  assert.match(poller.state().refusedPointer!, /"staging", not for "production"/);
});

test('an older signed pointer put back (a lower counter) is refused, also after a restart; a rollback through the channel is accepted', async (t) => {
  const r = await rig(t);
  await writeChannel(r.store, APP, pointer('v1'), { signingKeyPem: trusted.privateKeyPem });
  const oldBytes = fs.readFileSync(pointerFile(r));
  let poller = r.start();
  await waitFor('v1 applied', () => r.applied.length === 1);
  await writeChannel(r.store, APP, pointer('v2'), { signingKeyPem: trusted.privateKeyPem });
  await waitFor('v2 applied', () => r.applied.length === 2);
  assert.equal(r.ledger.getStateValue(`channel_counter:${ENV}`), '2', 'the accepted counter is kept in the ledger');

  // Someone with write access to the store puts v1's old, validly signed pointer back.
  fs.writeFileSync(pointerFile(r), oldBytes);
  await assertRefused(r, poller, 'CHANNEL_POINTER_REPLAYED', ['v1', 'v2']);
  assert.match(poller.state().refusedPointer!, /older than the last pointer this host accepted \(counter 2\)/);

  // A restarted agent remembers the counter.
  await poller.stop();
  poller = r.start();
  await waitFor('a poll after the restart', () => poller.state().polls >= 2);
  assert.deepEqual(r.applied, ['v1', 'v2']);
  assert.match(poller.state().refusedPointer ?? '', /older than the last pointer/);

  // A legitimate rollback to v1: a new pointer (counter 3), signed like any other.
  const rollback = await writeChannel(r.store, APP, { ...pointer('v1'), why: 'roll back to v1' }, { signingKeyPem: trusted.privateKeyPem });
  assert.equal(rollback.counter, 3);
  await waitFor('v1 applied again', () => r.applied.length === 3);
  assert.deepEqual(r.applied, ['v1', 'v2', 'v1']);
  assert.equal(poller.state().refusedPointer, null);
  assert.equal(r.ledger.getStateValue(`channel_counter:${ENV}`), '3');
});

test('an expired pointer is refused (CHANNEL_POINTER_EXPIRED); one that expires later is accepted', async (t) => {
  const r = await rig(t);
  await writeChannel(r.store, APP, pointer('v1', { expires: new Date(Date.now() - 1000).toISOString() }), { signingKeyPem: trusted.privateKeyPem });
  const poller = r.start();
  await assertRefused(r, poller, 'CHANNEL_POINTER_EXPIRED', []);
  assert.match(poller.state().refusedPointer!, /expired at/);
  await writeChannel(r.store, APP, pointer('v1', { expires: new Date(Date.now() + 3_600_000).toISOString() }), { signingKeyPem: trusted.privateKeyPem });
  await waitFor('v1 applied', () => r.applied.length === 1);
});
