/** NO_COLOR=1 (and --no-color) keep every byte of a failing command's output free of ANSI escapes. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { commitAll, createNotesRepo, describeRun, makeSandbox, type CliResult, type Sandbox } from '../helpers/cli.js';

const ESCAPE = /\u001b/;

const sandbox: Sandbox = makeSandbox({ after });
let repo: string;
let emptyFolder: string;

before(async () => {
  repo = await createNotesRepo(path.join(sandbox.root, 'repo'));
  const built = await sandbox.run(['build', '--ref', 'v1'], { cwd: repo });
  assert.equal(built.code, 0, describeRun(built));
  // HEAD now fails to build, with output of its own
  const file = path.join(repo, 'slipway.yml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('commands: []', 'commands: ["echo boom-line && exit 3"]'));
  commitAll(repo, 'a failing build');
  emptyFolder = path.join(sandbox.root, 'empty');
  fs.mkdirSync(emptyFolder);
});

/** Failing commands of every kind: config, build output, store lookups, confirmation, commander's own errors. */
function failingRuns(env: Record<string, string | undefined>, extraArgs: string[] = []): Promise<Array<[string, CliResult]>> {
  const runs: Array<[string[], string]> = [
    [['releases'], emptyFolder],
    [['build', '--json'], repo],
    [['deploy', 'production', '--version', 'v9', '--yes'], repo],
    [['deploy', 'production'], repo],
    [['deploy', 'prodution', '--yes'], repo],
    [['build', '--ref', 'v404'], repo],
  ];
  return Promise.all(
    runs.map(async ([args, cwd]): Promise<[string, CliResult]> => [args.join(' '), await sandbox.run([...args, ...extraArgs], { cwd, env })]),
  );
}

test('with FORCE_COLOR and no NO_COLOR, errors are coloured (so the check below can fail)', async () => {
  const results = await failingRuns({ NO_COLOR: undefined, FORCE_COLOR: '1' });
  for (const [command, result] of results) {
    assert.notEqual(result.code, 0, `${command}: ${describeRun(result)}`);
    assert.match(result.stderr, ESCAPE, `${command} printed no colour at all: ${describeRun(result)}`);
  }
});

test('NO_COLOR=1 wins over FORCE_COLOR: no escape in stdout or stderr of any failing command', async () => {
  const results = await failingRuns({ NO_COLOR: '1', FORCE_COLOR: '1' });
  for (const [command, result] of results) {
    assert.ok(result.code === 1 || result.code === 2, `${command}: ${describeRun(result)}`);
    assert.ok(result.stderr.length > 0, `${command} failed without saying why`);
    assert.doesNotMatch(result.stdout, ESCAPE, `${command}: ${JSON.stringify(result.stdout)}`);
    assert.doesNotMatch(result.stderr, ESCAPE, `${command}: ${JSON.stringify(result.stderr)}`);
  }
  // commander's own errors too
  const unknown = await sandbox.run(['deploi'], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
  assert.equal(unknown.code, 2);
  assert.doesNotMatch(unknown.stderr + unknown.stdout, ESCAPE);
});

test('--no-color does the same without NO_COLOR', async () => {
  const results = await failingRuns({ NO_COLOR: undefined, FORCE_COLOR: '1' }, ['--no-color']);
  for (const [command, result] of results) {
    assert.notEqual(result.code, 0, `${command}: ${describeRun(result)}`);
    assert.match(result.stderr, /^error: /m, `${command}: ${describeRun(result)}`);
    assert.doesNotMatch(result.stdout + result.stderr, ESCAPE, `${command} --no-color: ${JSON.stringify(result.stderr)}`);
  }
  // before the command name too
  const first = await sandbox.run(['--no-color', 'releases'], { cwd: emptyFolder, env: { NO_COLOR: undefined, FORCE_COLOR: '1' } });
  assert.equal(first.code, 2, describeRun(first));
  assert.match(first.stderr, /^error: no slipway\.yml/);
  assert.doesNotMatch(first.stderr, ESCAPE);
});
