import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requireDocker } from '../helpers/docker.js';
import { isCi, type SkippableTest } from '../helpers/missing-tool.js';

// A container test on a machine whose engine does not answer: skipped, saying why, on a
// developer's machine; failed in CI, which starts the engine itself (.ci/run).

/** An engine nobody answers for: DOCKER_HOST names a socket that does not exist. */
const noEngine = (ci: string | undefined) => ({ ...process.env, DOCKER_HOST: 'unix:///nonexistent/slipway-test-docker.sock', CI: ci });

function fakeTest(): SkippableTest & { skipped: string[]; said: string[] } {
  const skipped: string[] = [];
  const said: string[] = [];
  return { name: 'a container test', skipped, said, diagnostic: (m: string) => void said.push(m), skip: (m?: string) => void skipped.push(m ?? '') };
}

/** What `fn` writes to stderr, kept from the run's own output. */
function stderrOf(fn: () => void): string {
  const write = process.stderr.write;
  let written = '';
  process.stderr.write = ((chunk: string | Uint8Array) => ((written += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return written;
}

test('without an engine a container test skips with the reason, and fails in CI', () => {
  const outside = fakeTest();
  let answer: boolean | undefined;
  const warned = stderrOf(() => (answer = requireDocker(outside, noEngine(undefined))));
  assert.equal(answer, false);
  assert.equal(outside.skipped.length, 1, 'skipped once');
  assert.match(outside.skipped[0]!, /^needs a Docker engine: no Docker engine answers \(.*slipway-test-docker\.sock.*\); \.ci\/run starts dockerd$/);
  assert.deepEqual(outside.said, [`SKIPPED: ${outside.skipped[0]}`], 'and says so in the report');
  assert.equal(warned, `SKIPPED "a container test": ${outside.skipped[0]}\n`, 'and on stderr');

  for (const ci of ['true', '1']) {
    const inCi = fakeTest();
    assert.throws(() => requireDocker(inCi, noEngine(ci)), /needs a Docker engine: no Docker engine answers .*CI is set .*fails the test instead of skipping it/);
    assert.deepEqual(inCi.skipped, [], `CI=${ci}: not skipped`);
  }
  stderrOf(() => assert.equal(requireDocker(fakeTest(), noEngine('false')), false, 'CI=false is not CI'));
});

test('CI is any value of CI but empty, 0 or false', () => {
  assert.equal(isCi({}), false);
  for (const value of ['', '0', 'false', 'FALSE']) assert.equal(isCi({ CI: value }), false, value);
  for (const value of ['true', '1', 'yes']) assert.equal(isCi({ CI: value }), true, value);
});
