import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProjectText } from '../../src/config/load.js';
import { DEFAULT_STANDBY } from '../../src/config/types.js';
import { renderRemoteHostConfig } from '../../src/remote/host-config.js';

// slipway.yml `standby` of an environment: how long the old release stays warm after a switch.

function withStandby(value: string | null): string {
  return `
app: notes
services:
  web: { command: node server.js }
environments:
  production:
    port: 8080
${value === null ? '' : `    standby: ${value}\n`}`;
}

function parse(value: string | null) {
  return parseProjectText(withStandby(value), 'slipway.yml');
}

test('absent: the environment has no setting and the agent uses DEFAULT_STANDBY (10 minutes, 256 MiB)', () => {
  const result = parse(null);
  assert.deepEqual(result.problems, []);
  assert.equal(result.config!.environments[0]!.standby, undefined);
  assert.deepEqual(DEFAULT_STANDBY, { windowMs: 600_000, minAvailableBytes: 256 * 2 ** 20 });
});

test('a duration, off, false, 0 and the mapping form', () => {
  const cases: [string, { windowMs: number; minAvailableBytes: number }][] = [
    ['10m', { windowMs: 600_000, minAvailableBytes: DEFAULT_STANDBY.minAvailableBytes }],
    ['90s', { windowMs: 90_000, minAvailableBytes: DEFAULT_STANDBY.minAvailableBytes }],
    ['off', { windowMs: 0, minAvailableBytes: DEFAULT_STANDBY.minAvailableBytes }],
    ['false', { windowMs: 0, minAvailableBytes: DEFAULT_STANDBY.minAvailableBytes }],
    ['0s', { windowMs: 0, minAvailableBytes: DEFAULT_STANDBY.minAvailableBytes }],
    ['{ window: 1h, min_memory: 512MB }', { windowMs: 3_600_000, minAvailableBytes: 512_000_000 }],
    ['{ min_memory: 1.5GiB }', { windowMs: DEFAULT_STANDBY.windowMs, minAvailableBytes: 1.5 * 2 ** 30 }],
    ['{ window: off }', { windowMs: 0, minAvailableBytes: DEFAULT_STANDBY.minAvailableBytes }],
  ];
  for (const [text, expected] of cases) {
    const result = parse(text);
    assert.deepEqual(result.problems, [], text);
    assert.deepEqual(result.config!.environments[0]!.standby, expected, text);
  }
});

test('wrong values are refused with the line and what is expected', () => {
  for (const text of ['soon', '{ window: 10m, memory: 1GB }', '{ min_memory: lots }', '[10m]']) {
    const result = parse(text);
    assert.equal(result.config, undefined, text);
    assert.equal(result.problems.length, 1, `${text}: ${JSON.stringify(result.problems)}`);
    const problem = result.problems[0]!;
    assert.equal(problem.line, 8, text);
    assert.match(problem.path, /^environments\.production\.standby/, text);
  }
  assert.match(parse('soon').problems[0]!.message, /10m.*off/);
  assert.match(parse('{ min_memory: lots }').problems[0]!.message, /256MB/);
});

test("a remote host's own slipway.yml carries the environment's standby, and leaves it out when the environment has none", () => {
  for (const [value, expected] of [
    ['{ window: 90s, min_memory: 1GiB }', { windowMs: 90_000, minAvailableBytes: 2 ** 30 }],
    ['off', { windowMs: 0, minAvailableBytes: DEFAULT_STANDBY.minAvailableBytes }],
    [null, undefined],
  ] as const) {
    const project = parse(value).config!;
    const rendered = renderRemoteHostConfig({ project, environment: project.environments[0]!, host: { name: 'app1', root: '/srv/app1' } });
    const onHost = parseProjectText(rendered.yaml, '/srv/app1/slipway.yml');
    assert.deepEqual(onHost.problems, [], rendered.yaml);
    assert.deepEqual(onHost.config!.environments[0]!.standby, expected, String(value));
  }
});
