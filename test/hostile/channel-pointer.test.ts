/**
 * Hostile channel pointers (the store's `<app>/channels/<env>.json`, which an agent in
 * pull mode acts on) against parseChannelPointer and the readers built on it: each is
 * CHANNEL_CORRUPT, the error never quotes the pointer's values, and Object.prototype is
 * untouched.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { SlipwayError } from '../../src/errors.js';
import { channelHistory, checkChannelPointer, parseChannelPointer, pointerSignedText, readChannel, readChannelIfChanged, type ChannelPointer } from '../../src/store/channels.js';
import { generateSigningKeyPair, signBytes } from '../../src/release/sign.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { expectThrows, fcOptions, tempRoot } from './harness.js';

const GOOD: ChannelPointer = {
  environment: 'production',
  releaseId: 'ab'.repeat(32),
  version: 'v1.2.0',
  who: 'ci',
  when: '2025-01-01T12:00:00.000Z',
  why: 'ship it',
};

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

function assertPrototypeClean(): void {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTOTYPE_KEYS);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
}

const json = (value: unknown) => JSON.stringify(value);
const withField = (key: string, value: unknown) => json({ ...GOOD, [key]: value });
const withoutField = (key: keyof ChannelPointer) => json(Object.fromEntries(Object.entries(GOOD).filter(([k]) => k !== key)));

const CASES: { name: string; bytes: () => string | Buffer; reason: RegExp }[] = [
  { name: 'empty bytes', bytes: () => '', reason: /not valid JSON/ },
  { name: 'binary garbage', bytes: () => Buffer.from([0xff, 0x00, 0x7b, 0x22, 0x80]), reason: /not valid JSON/ },
  { name: 'a byte-order mark before the JSON', bytes: () => `\uFEFF${json(GOOD)}`, reason: /not valid JSON/ },
  { name: 'truncated JSON', bytes: () => json(GOOD).slice(0, 40), reason: /not valid JSON/ },
  { name: 'JSON null', bytes: () => 'null', reason: /malformed/ },
  { name: 'a JSON list of pointers', bytes: () => json([GOOD]), reason: /malformed/ },
  { name: 'a bare release id', bytes: () => json(GOOD.releaseId), reason: /malformed/ },
  { name: '200,000 nested lists', bytes: () => `${'['.repeat(200_000)}${']'.repeat(200_000)}`, reason: /larger than 65536 bytes/ },
  { name: '30,000 nested lists (under the size limit)', bytes: () => `${'['.repeat(30_000)}${']'.repeat(30_000)}`, reason: /malformed/ },
  { name: 'a pointer past 64 KiB (a long why)', bytes: () => withField('why', 'x'.repeat(64 * 1024)), reason: /larger than 65536 bytes; refused unread/ },
  { name: 'a counter of 0', bytes: () => withField('counter', 0), reason: /counter/ },
  { name: 'a negative counter', bytes: () => withField('counter', -5), reason: /counter/ },
  { name: 'a fractional counter', bytes: () => withField('counter', 1.5), reason: /counter/ },
  { name: 'a counter past 2^53', bytes: () => withField('counter', 2 ** 60), reason: /counter/ },
  { name: 'a counter as a string', bytes: () => withField('counter', '7'), reason: /counter/ },
  { name: 'an expiry that is not a time', bytes: () => withField('expires', 'tomorrow'), reason: /expires/ },
  { name: 'a signature of another algorithm', bytes: () => withField('signature', { alg: 'rsa', keyId: '0'.repeat(16), signature: 'AA==' }), reason: /signature/ },
  { name: 'no releaseId', bytes: () => withoutField('releaseId'), reason: /releaseId/ },
  { name: 'an upper-case releaseId', bytes: () => withField('releaseId', GOOD.releaseId.toUpperCase()), reason: /releaseId/ },
  { name: 'a 63-character releaseId', bytes: () => withField('releaseId', GOOD.releaseId.slice(1)), reason: /releaseId/ },
  { name: 'a releaseId with a trailing newline', bytes: () => withField('releaseId', `${GOOD.releaseId}\n`), reason: /releaseId/ },
  { name: 'a releaseId that climbs out of the store', bytes: () => withField('releaseId', `../../${'a'.repeat(58)}`), reason: /releaseId/ },
  { name: 'a releaseId given as a version', bytes: () => withField('releaseId', 'v1.2.0'), reason: /releaseId/ },
  { name: 'a releaseId as a number', bytes: () => withField('releaseId', 1e64), reason: /releaseId/ },
  { name: 'an empty environment', bytes: () => withField('environment', ''), reason: /environment/ },
  { name: 'an empty version', bytes: () => withField('version', ''), reason: /version/ },
  { name: 'who as an object', bytes: () => withField('who', { name: 'ci' }), reason: /who/ },
  { name: 'when as a number', bytes: () => withField('when', 1735732800), reason: /when/ },
  { name: 'why missing', bytes: () => withoutField('why'), reason: /why/ },
  { name: 'an extra key', bytes: () => withField('command', 'rm -rf /'), reason: /malformed/ },
  { name: 'a __proto__ key', bytes: () => json(GOOD).replace('{', '{"__proto__":{"polluted":true},'), reason: /malformed/ },
  { name: 'a constructor.prototype key', bytes: () => json(GOOD).replace('{', '{"constructor":{"prototype":{"polluted":true}},'), reason: /malformed/ },
];

for (const c of CASES) {
  test(`channel pointer: ${c.name} → CHANNEL_CORRUPT`, () => {
    const error = expectThrows(() => parseChannelPointer(c.bytes(), 'demo/channels/production.json'), 'CHANNEL_CORRUPT', c.reason);
    assert.match(error.message, /demo\/channels\/production\.json/, 'names the pointer');
    assert.match(error.hint ?? '', /slipway channel set/);
    assertPrototypeClean();
  });
}

test('channel pointer: a duplicated releaseId key is read as JSON reads it (the last one), never as a mix', () => {
  const other = 'cd'.repeat(32);
  const pointer = parseChannelPointer(json(GOOD).replace('{', `{"releaseId":"${other}",`), 'p');
  assert.equal(pointer.releaseId, GOOD.releaseId);
  assert.deepEqual(pointer, GOOD);
});

test('channel pointer: the readers refuse a hostile pointer in a real store, and one corrupt history entry is reported', async (t) => {
  const root = tempRoot(t);
  const store = createLocalStore(root);
  fs.mkdirSync(path.join(root, 'demo', 'channels', 'production', 'history'), { recursive: true });
  fs.writeFileSync(path.join(root, 'demo', 'channels', 'production.json'), json(GOOD).replace('{', '{"__proto__":{"polluted":true},'));
  fs.writeFileSync(path.join(root, 'demo', 'channels', 'production', 'history', '2025-01-01-x.json'), '{"releaseId":');
  await assert.rejects(readChannel(store, 'demo', 'production'), (e: unknown) => e instanceof SlipwayError && e.code === 'CHANNEL_CORRUPT');
  await assert.rejects(readChannelIfChanged(store, 'demo', 'production', null), (e: unknown) => e instanceof SlipwayError && e.code === 'CHANNEL_CORRUPT');
  await assert.rejects(channelHistory(store, 'demo', 'production'), (e: unknown) => e instanceof SlipwayError && e.code === 'CHANNEL_CORRUPT' && /history/.test(e.message));
  assertPrototypeClean();
});

// --- properties

test('channel pointer property: any bytes → a pointer with a 64-hex releaseId, or CHANNEL_CORRUPT', () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 300 })), (bytes) => {
      try {
        const pointer = parseChannelPointer(bytes, 'p');
        assert.match(pointer.releaseId, /^[0-9a-f]{64}$/);
      } catch (error) {
        assert.ok(error instanceof SlipwayError, String(error));
        assert.equal(error.code, 'CHANNEL_CORRUPT');
      }
    }),
    fcOptions(300),
  );
});

test('channel pointer property: any object mixing good and hostile fields → exactly the six fields, all text, or CHANNEL_CORRUPT that quotes none of the values', () => {
  const marker = fc.stringMatching(/^[a-z]{8}$/).map((s) => `Qx${s}`);
  const field = (good: string) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(good) },
      { weight: 1, arbitrary: marker },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  const pointerLike = fc.record({
    environment: field(GOOD.environment),
    releaseId: fc.oneof(field(GOOD.releaseId), marker.map((m) => `${m}${'0'.repeat(54)}`)),
    version: field(GOOD.version),
    who: field(GOOD.who),
    when: field(GOOD.when),
    why: field(GOOD.why),
  });
  const extra = fc.option(fc.tuple(fc.constantFrom('__proto__', 'constructor', 'extra', 'releaseid'), fc.jsonValue({ maxDepth: 1 })), { nil: undefined });
  fc.assert(
    fc.property(pointerLike, extra, (fields, added) => {
      let text = JSON.stringify(fields);
      if (added) text = text.replace(/^\{/, `{${JSON.stringify(added[0])}:${JSON.stringify(added[1] ?? null)}${text === '{}' ? '' : ','}`);
      try {
        const pointer = parseChannelPointer(text, 'p');
        assert.deepEqual(Object.keys(pointer).sort(), ['environment', 'releaseId', 'version', 'when', 'who', 'why']);
        for (const value of Object.values(pointer)) assert.equal(typeof value, 'string');
        assert.match(pointer.releaseId, /^[0-9a-f]{64}$/);
        assert.notEqual(pointer.environment, '');
      } catch (error) {
        assert.ok(error instanceof SlipwayError, String(error));
        assert.equal(error.code, 'CHANNEL_CORRUPT');
        for (const value of Object.values(fields)) {
          if (typeof value === 'string' && value.startsWith('Qx')) assert.ok(!error.message.includes(value), `quoted ${value}: ${error.message}`);
        }
      }
      assertPrototypeClean();
    }),
    fcOptions(300),
  );
});

// --- what an agent that requires signatures refuses, though the pointer parses

test('channel pointer: an agent requiring signatures refuses unsigned, badly signed, other-environment, older and expired pointers', async (t) => {
  const trusted = generateSigningKeyPair();
  const stranger = generateSigningKeyPair();
  const store = createLocalStore(path.join(tempRoot(t), 'store'));
  const policy = { required: true, publicKeysPem: [trusted.publicKeyPem] };
  const signed = (p: ChannelPointer, key = trusted) => ({ ...p, signature: signBytes(pointerSignedText('demo', p), key.privateKeyPem) });
  const check = (pointer: ChannelPointer, lastAcceptedCounter: number | null = null) => () => checkChannelPointer({ app: 'demo', env: 'production', pointer, policy, lastAcceptedCounter });
  const good = signed({ ...GOOD, counter: 5 });
  check(good, 5)();
  const cases: [string, () => void, string, RegExp][] = [
    ['unsigned', check({ ...GOOD, counter: 6 }), 'CHANNEL_POINTER_UNSIGNED', /not signed/],
    ['signed by an untrusted key', check(signed({ ...GOOD, counter: 6 }, stranger)), 'CHANNEL_POINTER_SIGNATURE_INVALID', /does not trust/],
    ['signed, then pointed at another release', check({ ...good, releaseId: 'cd'.repeat(32) }), 'CHANNEL_POINTER_SIGNATURE_INVALID', /does not verify/],
    ['signed, then given a higher counter', check({ ...good, counter: 99 }, 6), 'CHANNEL_POINTER_SIGNATURE_INVALID', /does not verify/],
    ['signed, then its expiry removed', check({ ...signed({ ...GOOD, counter: 6, expires: '2025-01-01T13:00:00.000Z' }), expires: undefined }), 'CHANNEL_POINTER_SIGNATURE_INVALID', /does not verify/],
    ['signed for another app', check({ ...GOOD, counter: 6, signature: signBytes(pointerSignedText('billing', { ...GOOD, counter: 6 }), trusted.privateKeyPem) }), 'CHANNEL_POINTER_SIGNATURE_INVALID', /does not verify/],
    ['for another environment', check(signed({ ...GOOD, environment: 'staging', counter: 6 })), 'CHANNEL_POINTER_WRONG_ENVIRONMENT', /"staging", not for "production"/],
    ['a lower counter than the last accepted', check(good, 6), 'CHANNEL_POINTER_REPLAYED', /counter 6/],
    ['expired', check(signed({ ...GOOD, counter: 6, expires: '2025-01-01T13:00:00.000Z' })), 'CHANNEL_POINTER_EXPIRED', /expired at/],
  ];
  for (const [name, run, code, reason] of cases) expectThrows(run, code, { message: reason, hint: /./, context: name });
  // no counter at all, once a counter was accepted: refused as older
  expectThrows(check(signed({ ...GOOD }), 1), 'CHANNEL_POINTER_REPLAYED', /older/);
  // an oversized pointer in a real store is refused unread by the reader the agent uses
  fs.mkdirSync(path.join(tempRoot(t)), { recursive: true });
  await store.put('demo/channels/production.json', JSON.stringify({ ...GOOD, why: 'x'.repeat(70_000) }));
  await assert.rejects(readChannelIfChanged(store, 'demo', 'production', null), (e: unknown) => e instanceof SlipwayError && e.code === 'CHANNEL_CORRUPT' && /larger than/.test(e.message));
  assertPrototypeClean();
});
