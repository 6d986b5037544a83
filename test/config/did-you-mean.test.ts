import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closestMatch, didYouMean, editDistance } from '../../src/config/did-you-mean.js';

test('editDistance counts insertions, deletions, substitutions and swaps', () => {
  assert.equal(editDistance('', ''), 0);
  assert.equal(editDistance('abc', ''), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('port_evn', 'port_env'), 1);
  assert.equal(editDistance('servces', 'services'), 1);
});

test('closestMatch suggests near misses and prefixes, and nothing for unrelated words', () => {
  const keys = ['app', 'services', 'build', 'data', 'migrate', 'hooks', 'config', 'environments', 'signing'];
  assert.equal(closestMatch('enviroments', keys), 'environments');
  assert.equal(closestMatch('Services', keys), 'services');
  assert.equal(closestMatch('ap', keys), 'app');
  assert.equal(closestMatch('deploy', keys), undefined);
  assert.equal(closestMatch('prod', ['production', 'staging']), 'production');
  assert.equal(didYouMean('hook', keys), '; did you mean `hooks`?');
  assert.equal(didYouMean('zzz', keys), '');
});
