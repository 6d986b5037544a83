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
import { channelHistory, parseChannelPointer, readChannel, readChannelIfChanged, type ChannelPointer } from '../../src/store/channels.js';
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
  { name: '200,000 nested lists', bytes: () => `${'['.repeat(200_000)}${']'.repeat(200_000)}`, reason: /malformed/ },
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
