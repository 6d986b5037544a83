import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareVersions, parseVersion, parseVersionRange, satisfiesRange } from '../../src/util/version.js';

test('versions compare as numbers, with or without a leading v', () => {
  assert.equal(compareVersions('v1', 'v2'), -1);
  assert.equal(compareVersions('v2', 'v10'), -1);
  assert.equal(compareVersions('1.2.0', '1.10.0'), -1);
  assert.equal(compareVersions('v1.10.0', '1.9.9'), 1);
  assert.equal(compareVersions('v2', '2.0.0'), 0, 'missing parts are zero');
  assert.equal(compareVersions('V3', 'v3'), 0);
});

test('a pre-release sorts before its release; identifiers compare like semver', () => {
  assert.equal(compareVersions('2.0.0-rc.1', '2.0.0'), -1);
  assert.equal(compareVersions('2.0.0-rc.2', '2.0.0-rc.10'), -1);
  assert.equal(compareVersions('2.0.0-alpha', '2.0.0-beta'), -1);
  assert.equal(compareVersions('2.0.0-1', '2.0.0-alpha'), -1, 'numeric identifiers before words');
  assert.equal(compareVersions('v3-dirty', 'v3'), -1);
  assert.equal(compareVersions('1.0.0+build.5', '1.0.0'), 0, 'build metadata is ignored');
});

test('numbers compare as numbers whatever the prefix; one scheme compares with itself only', () => {
  assert.equal(compareVersions('g5.96', 'g5.130'), -1);
  assert.equal(compareVersions('g5.130', 'g5.96'), 1);
  assert.equal(compareVersions('release-12', 'release-13'), -1);
  assert.equal(compareVersions('release-9', 'release-10'), -1);
  assert.equal(compareVersions('Release-10', 'release-10'), 0, 'the prefix is not case-sensitive');
  assert.equal(compareVersions('2026.11.1', '2026.11.10'), -1);
  assert.equal(compareVersions('2026.2.1', '2026.11.1'), -1);
  assert.equal(compareVersions('app-v1.9', 'app-v1.10'), -1);
  assert.equal(compareVersions('release-13-rc.1', 'release-13'), -1, 'pre-releases work behind any prefix');
  assert.deepEqual(parseVersion('g5.130'), { prefix: 'g', numbers: [5, 130], prerelease: [] });
  assert.deepEqual(parseVersion('v2.1-rc.1'), { prefix: '', numbers: [2, 1], prerelease: ['rc', 1] });
  assert.equal(compareVersions('g5.96', 'release-12'), null, 'two schemes do not compare');
  assert.equal(compareVersions('g5', 'v6'), null);
});

test('what is not a version is not comparable (callers order those by build order)', () => {
  assert.equal(parseVersion('abc1234'), null, 'a short commit id, though it starts with letters');
  assert.equal(parseVersion('3f9e0c2d1a7b'), null);
  assert.equal(compareVersions('abc1234', 'v1'), null);
  assert.equal(compareVersions('v1', 'main'), null);
  assert.equal(parseVersion('5.1abc'), null);
});

test('ranges: comparators that must all hold; a bare version means that version or newer', () => {
  const range = (text: string) => {
    const parsed = parseVersionRange(text);
    assert.ok(parsed.ok, text);
    return parsed.range;
  };
  assert.equal(satisfiesRange('v1', range('>=v2')), false);
  assert.equal(satisfiesRange('v2', range('>=v2')), true);
  assert.equal(satisfiesRange('2.5.1', range('>=v2')), true);
  assert.equal(satisfiesRange('v2', range('v2')), true);
  assert.equal(satisfiesRange('v3', range('v2')), true);
  assert.equal(satisfiesRange('v3', range('=v2')), false);
  assert.equal(satisfiesRange('1.4.2', range('>= 1.4.0 < 2')), true);
  assert.equal(satisfiesRange('2.0.0', range('>=1.4.0, <2')), false);
  assert.equal(satisfiesRange('v1.9', range('>1.8 <=1.9')), true);
  assert.equal(satisfiesRange('abc1234', range('>=v2')), null);
  assert.equal(satisfiesRange('g5.130', range('>=g5.96')), true);
  assert.equal(satisfiesRange('g5.90', range('>=g5.96')), false);
  assert.equal(satisfiesRange('release-13', range('>release-12 <release-20')), true);
  assert.equal(satisfiesRange('2026.11.10', range('>=2026.11.2')), true);
  assert.equal(satisfiesRange('release-13', range('>=v2')), null, 'another scheme: not comparable');
});

test('ranges that cannot be read say why', () => {
  for (const [text, words] of [
    ['', /empty/],
    ['>=', /cannot read|not a version/],
    ['~2', /\^ and ~ are not supported/],
    ['>=two', /"two" is not a version/],
    ['>=g5 <release-3', /different schemes/],
  ] as const) {
    const parsed = parseVersionRange(text);
    assert.equal(parsed.ok, false, text);
    if (!parsed.ok) assert.match(parsed.error, words, text);
  }
});
