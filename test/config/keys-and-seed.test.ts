/** slipway.yml: config keys of any environment variable name, and data folders seeded from the release. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatProblem, parseProjectText } from '../../src/config/load.js';

const SERVICES = 'services:\n  web:\n    command: node server.js\n';
const ENVIRONMENTS = 'environments:\n  production:\n    port: 8080\n';

function parse(text: string) {
  const result = parseProjectText(text, 'slipway.yml');
  return result;
}

test('config keys may be lowercase and use __ (what apps with nested settings read)', () => {
  const result = parse(`app: blog\n${SERVICES}config:\n  database__client: { default: sqlite3 }\n  server__port: { default: "2368" }\n  url: { required: true }\n  SESSION_SECRET: { required: true, secret: true }\n${ENVIRONMENTS}`);
  assert.deepEqual(result.problems.map(formatProblem), []);
  assert.deepEqual(
    result.config!.config.map((k) => k.name),
    ['database__client', 'server__port', 'url', 'SESSION_SECRET'],
  );
});

test('a config key that is not an environment variable name says what is expected', () => {
  for (const bad of ['database.client', '1st_key', 'my-key']) {
    const result = parse(`app: blog\n${SERVICES}config:\n  "${bad}": { default: x }\n${ENVIRONMENTS}`);
    assert.equal(result.config, undefined, bad);
    assert.match(result.problems.map(formatProblem).join('\n'), /expected an environment variable name: letters, digits and _, not starting with a digit \(like SESSION_SECRET or database__client\)/, bad);
  }
});

test('data folders: plain paths and { path, seed } mix; seed is listed only when used', () => {
  const seeded = parse(`app: blog\n${SERVICES}data:\n  folders: [uploads, { path: content, seed: true }, { path: logs }, { path: media, seed: false }]\n${ENVIRONMENTS}`);
  assert.deepEqual(seeded.problems.map(formatProblem), []);
  assert.deepEqual(seeded.config!.data, { databases: [], folders: ['uploads', 'content', 'logs', 'media'], seed: ['content'] });

  const plain = parse(`app: blog\n${SERVICES}data:\n  folders: [uploads, { path: logs }]\n${ENVIRONMENTS}`);
  assert.deepEqual(plain.config!.data, { databases: [], folders: ['uploads', 'logs'] });
  assert.equal('seed' in plain.config!.data, false, 'no seed key: manifests of projects without seed stay as they were');
});

test('a wrong folder entry says both forms', () => {
  const cases: Array<[string, RegExp]> = [
    ['[42]', /expected a folder path like uploads, or \{ path: content, seed: true \} to fill the folder with what the release ships there on the first deploy/],
    ['[{ path: content, seed: yes }]', /expected \{ path: content, seed: true \}: path is the folder, seed \(true or false\) fills it from the release on the first deploy/],
    ['[{ path: /srv/content, seed: true }]', /relative to the host's shared folder \(not absolute, no \.\.\)/],
    ['[{ path: ../content, seed: true }]', /relative to the host's shared folder/],
    ['uploads', /expected a list of folders, like \[uploads, \{ path: content, seed: true \}\]/],
  ];
  for (const [folders, message] of cases) {
    const result = parse(`app: blog\n${SERVICES}data:\n  folders: ${folders}\n${ENVIRONMENTS}`);
    assert.equal(result.config, undefined, folders);
    assert.match(result.problems.map(formatProblem).join('\n'), message, folders);
  }
});
