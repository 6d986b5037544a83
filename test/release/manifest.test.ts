import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { canonicalManifestBytes, parseManifest, releaseIdOf, shortId, type ReleaseManifest } from '../../src/release/manifest.js';
import { expectThrows } from '../helpers/expect-error.js';

function sampleManifest(): ReleaseManifest {
  return {
    schema: 1,
    app: 'demo',
    version: 'v1.2.0',
    commit: 'a'.repeat(40),
    message: 'Add things\n\nwith “unicode”',
    date: '2024-05-01T10:00:00.000Z',
    dirty: false,
    notes: '- added things',
    requiredConfig: ['SECRET_KEY'],
    migrates: true,
    runtime: {
      services: [
        {
          name: 'web',
          command: 'node server.js',
          portEnv: 'PORT',
          env: { NODE_ENV: 'production' },
          health: { path: '/healthz', intervalMs: 500, timeoutMs: 2000, successes: 2, deadlineMs: 30_000 },
        },
      ],
      data: { databases: [{ name: 'main', engine: 'sqlite', path: 'db/app.sqlite' }], folders: ['uploads'] },
      migrate: { command: 'node migrate.js', reversible: false, timeoutMs: 60_000 },
      hooks: [{ when: 'after', step: 'migrate', commands: ['node warm-cache.js'] }],
      config: [{ name: 'SECRET_KEY', required: true, secret: true, description: 'signs sessions' }],
    },
    files: [
      { path: 'bin/start.sh', sha256: '1'.repeat(64), mode: 0o755, size: 10 },
      { path: 'server.js', sha256: '2'.repeat(64), mode: 0o644, size: 20 },
    ],
  };
}

test('manifest: canonical bytes sort keys at every level, without whitespace; the id is their sha256', () => {
  const m = sampleManifest();
  const bytes = canonicalManifestBytes(m).toString('utf8');
  assert.ok(bytes.startsWith('{"app":"demo","commit":"'), bytes.slice(0, 40));
  assert.ok(bytes.includes('{"mode":493,"path":"bin/start.sh","sha256":"'));
  assert.equal(bytes, JSON.stringify(JSON.parse(bytes)), 'no whitespace outside strings');
  assert.ok(bytes.includes('“unicode”'), 'UTF-8, not \\u escapes');
  const reordered = Object.fromEntries(Object.entries(m).reverse()) as unknown as ReleaseManifest;
  assert.ok(canonicalManifestBytes(reordered).equals(canonicalManifestBytes(m)), 'key order does not matter');
  const id = releaseIdOf(m);
  assert.equal(id, createHash('sha256').update(canonicalManifestBytes(m)).digest('hex'));
  assert.equal(shortId(id), id.slice(0, 12));
  assert.notEqual(releaseIdOf({ ...m, notes: 'other' }), id);
});

test('manifest: a pretty-printed manifest parses and matches its id', () => {
  const m = sampleManifest();
  assert.deepEqual(parseManifest(JSON.stringify(m, null, 2), releaseIdOf(m)), m);
  assert.deepEqual(parseManifest(Buffer.from(JSON.stringify(m))), m);
});

test('manifest: one changed byte against the expected id is RELEASE_MANIFEST_TAMPERED', () => {
  const m = sampleManifest();
  const id = releaseIdOf(m);
  const text = JSON.stringify(m, null, 2);
  const tampered = text.replace('"size": 20', '"size": 21');
  assert.notEqual(tampered, text);
  expectThrows(() => parseManifest(tampered, id), 'RELEASE_MANIFEST_TAMPERED');
  const digit = text.indexOf('1111');
  const flipped = text.slice(0, digit) + '3' + text.slice(digit + 1);
  expectThrows(() => parseManifest(flipped, id), 'RELEASE_MANIFEST_TAMPERED');
  // a change that breaks the JSON is tampering too, when an id is expected
  expectThrows(() => parseManifest(`${text.slice(0, -2)}`, id), 'RELEASE_MANIFEST_TAMPERED');
  expectThrows(() => parseManifest(text.slice(0, -2)), 'RELEASE_MANIFEST_INVALID');
});

test('manifest: unsafe, duplicate, unsorted or conflicting paths are refused', () => {
  const withPaths = (...paths: string[]) => JSON.stringify({ ...sampleManifest(), files: paths.map((p) => ({ path: p, sha256: '0'.repeat(64), mode: 0o644, size: 1 })) });
  for (const bad of [['/etc/passwd'], ['../x'], ['a/../../x'], ['a//b'], ['a/'], ['./a'], [''], ['a\\b'], ['C:/x'], ['a', 'a'], ['b', 'a'], ['a', 'a/b']]) {
    const error = expectThrows(() => parseManifest(withPaths(...bad)), 'RELEASE_MANIFEST_INVALID', { context: JSON.stringify(bad) });
    assert.ok(error.details.length > 0, `details for ${JSON.stringify(bad)}`);
  }
  assert.equal(parseManifest(withPaths('a/b', 'a/c', 'b')).files.length, 3);
});

test('manifest: entriesCheckedBefore (a host reading bytes it checked when it installed them) skips the entry checks only while the bytes are the id\'s', () => {
  const unsorted = Buffer.from(JSON.stringify({ ...sampleManifest(), files: ['b', 'a'].map((p) => ({ path: p, sha256: '0'.repeat(64), mode: 0o644, size: 1 })) }));
  const id = createHash('sha256').update(unsorted).digest('hex');
  expectThrows(() => parseManifest(unsorted, id), 'RELEASE_MANIFEST_INVALID');
  assert.deepEqual(parseManifest(unsorted, id, { entriesCheckedBefore: true }).files.map((f) => f.path), ['b', 'a']);
  // one byte changed: not the bytes that were checked, so tampering, whatever the option says
  const changed = Buffer.from(unsorted.toString().replace('"size":1', '"size":2'));
  expectThrows(() => parseManifest(changed, id, { entriesCheckedBefore: true }), 'RELEASE_MANIFEST_TAMPERED');
  // and the rest of the manifest is still checked by its schema
  const badVersion = Buffer.from(JSON.stringify({ ...sampleManifest(), version: 'has space' }));
  expectThrows(() => parseManifest(badVersion, createHash('sha256').update(badVersion).digest('hex'), { entriesCheckedBefore: true }), 'RELEASE_MANIFEST_INVALID');
});

test('manifest: a runtime with an unsafe shared path or an unknown pipeline step is refused', () => {
  const m = sampleManifest();
  const withFolders = { ...m, runtime: { ...m.runtime, data: { ...m.runtime.data, folders: ['../outside'] } } };
  expectThrows(() => parseManifest(JSON.stringify(withFolders)), 'RELEASE_MANIFEST_INVALID');
  const withHook = { ...m, runtime: { ...m.runtime, hooks: [{ when: 'after', step: 'deploy-everything', commands: [] }] } };
  expectThrows(() => parseManifest(JSON.stringify(withHook)), 'RELEASE_MANIFEST_INVALID');
});

test('manifest: wrong shapes are refused with every problem listed', () => {
  const m = { ...sampleManifest(), schema: 2, version: 'has space', extra: true, files: [{ path: 'a', sha256: 'xyz', mode: 0o777, size: -1 }] };
  const details = expectThrows(() => parseManifest(JSON.stringify(m)), 'RELEASE_MANIFEST_INVALID').details.join('\n');
  for (const field of ['schema', 'version', 'files.0.sha256', 'files.0.mode', 'files.0.size']) assert.ok(details.includes(field), `${field} in ${details}`);
});

test('manifest: the canonical bytes are checked against the id by their digest; any other form of them is canonicalized first', () => {
  const m = sampleManifest();
  const id = releaseIdOf(m);
  assert.deepEqual(parseManifest(canonicalManifestBytes(m), id), m);
  assert.deepEqual(parseManifest(`${JSON.stringify(m, null, 2)}\n`, id), m);
  const changed = canonicalManifestBytes({ ...m, version: `${m.version}x` });
  expectThrows(() => parseManifest(changed, id), 'RELEASE_MANIFEST_TAMPERED');
});
