/** slipway.yml `environments.<env>.trusted_proxies`: addresses and CIDR ranges, each bad entry reported at its own line. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem, parseProjectText } from '../../src/config/load.js';
import { renderRemoteHostConfig } from '../../src/remote/host-config.js';
import { addressMatcher, ipRangeProblem } from '../../src/util/ip-range.js';

const HEAD = 'app: notes\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    port: 8080\n';

test('absent: nobody is trusted; a list of addresses and ranges (IPv4 and IPv6) parses as written', () => {
  const none = parseProjectText(HEAD, 'slipway.yml');
  assert.deepEqual(none.problems, []);
  assert.equal(none.config!.environments[0]!.trustedProxies, undefined);

  const some = parseProjectText(`${HEAD}    trusted_proxies: [10.0.0.5, 192.168.0.0/16, "fd00::/8", "::1"]\n`, 'slipway.yml');
  assert.deepEqual(some.problems.map(formatProblem), []);
  assert.deepEqual(some.config!.environments[0]!.trustedProxies, ['10.0.0.5', '192.168.0.0/16', 'fd00::/8', '::1']);
});

test('each bad entry is a problem at its own line, saying what is expected', () => {
  const text = `${HEAD}    trusted_proxies:\n      - 10.0.0.5\n      - proxy.example.com\n      - 10.0.0.0/33\n      - 300.1.1.1\n`;
  const result = parseProjectText(text, 'slipway.yml');
  assert.equal(result.config, undefined);
  const problems = result.problems.map((p) => ({ line: p.line, path: p.path, message: p.message }));
  assert.equal(problems.length, 3, result.problems.map(formatProblem).join('\n'));
  assert.deepEqual(problems[0], {
    line: 10,
    path: 'environments.production.trusted_proxies[1]',
    message: '"proxy.example.com" is not an IP address or a CIDR range like 10.0.0.0/8 or fd00::/8 (an address of a proxy in front of slipway, whose X-Forwarded-* headers are trusted)',
  });
  assert.equal(problems[1]!.line, 11);
  assert.match(problems[1]!.message, /"10\.0\.0\.0\/33": the prefix length after \/ must be 0 to 32 for an IPv4 range/);
  assert.equal(problems[2]!.line, 12);
  assert.match(problems[2]!.message, /"300\.1\.1\.1" is not an IP address/);
  assert.match(formatProblem(result.problems[0]!), /^slipway\.yml:10:/);
});

test('not a list: says so', () => {
  const result = parseProjectText(`${HEAD}    trusted_proxies: 10.0.0.5\n`, 'slipway.yml');
  assert.equal(result.config, undefined);
  assert.match(result.problems.map(formatProblem).join('\n'), /slipway\.yml:8:.*expected a list of IP addresses or CIDR ranges, like \[10\.0\.0\.5, 192\.168\.0\.0\/16\]/);
});

test('the matcher: addresses, ranges, IPv4 seen on a dual-stack socket; nothing for an empty list', () => {
  const trusted = addressMatcher(['10.0.0.5', '192.168.0.0/16', 'fd00::/8']);
  assert.equal(trusted('10.0.0.5'), true);
  assert.equal(trusted('::ffff:10.0.0.5'), true);
  assert.equal(trusted('10.0.0.6'), false);
  assert.equal(trusted('192.168.44.1'), true);
  assert.equal(trusted('192.169.0.1'), false);
  assert.equal(trusted('fd12::1'), true);
  assert.equal(trusted('fe80::1'), false);
  assert.equal(trusted(undefined), false);
  assert.equal(addressMatcher([])('127.0.0.1'), false);
  assert.equal(ipRangeProblem('::1/129'), '"::1/129": the prefix length after / must be 0 to 128 for an IPv6 range');
  assert.throws(() => addressMatcher(['nope']), /"nope" is not an IP address/);
});

test('a remote host’s own project file carries the list, so its proxy trusts the same addresses', () => {
  const result = parseProjectText(
    'app: notes\nservices:\n  web:\n    command: node server.js\nenvironments:\n  production:\n    host: ssh://deploy@app1.example.com\n    port: 8080\n    trusted_proxies: [10.0.0.0/8]\n',
    'slipway.yml',
  );
  assert.deepEqual(result.problems.map(formatProblem), []);
  const project = result.config!;
  const rendered = renderRemoteHostConfig({ project, environment: project.environments[0]!, host: { name: 'app1', root: '/srv/notes' } });
  const reparsed = parseProjectText(rendered.yaml, 'slipway.yml');
  assert.deepEqual(reparsed.problems.map(formatProblem), []);
  assert.deepEqual(reparsed.config!.environments[0]!.trustedProxies, ['10.0.0.0/8']);
});
