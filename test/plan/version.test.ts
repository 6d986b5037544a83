import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareVersions, parseVersion, parseVersionRange, satisfiesRange } from '../../src/plan/version.js';

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

test('what is not a version is not comparable (callers fall back to dates)', () => {
  assert.equal(parseVersion('abc1234'), null);
  assert.equal(compareVersions('abc1234', 'v1'), null);
  assert.equal(compareVersions('v1', 'main'), null);
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
});

test('ranges that cannot be read say why', () => {
  for (const [text, words] of [
    ['', /empty/],
    ['>=', /cannot read|not a version/],
    ['~2', /\^ and ~ are not supported/],
    ['>=two', /"two" is not a version/],
  ] as const) {
    const parsed = parseVersionRange(text);
    assert.equal(parsed.ok, false, text);
    if (!parsed.ok) assert.match(parsed.error, words, text);
  }
});
