import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { readEnvFile } from '../../src/host/app-env.js';
import { describeAppConfig, parseAssignment, parseSetArgument, setEnvFileValue, unsetEnvFileValue, valueFromStdin } from '../../src/plan/app-config.js';
import { tempDir } from '../helpers/temp-dir.js';
import { expectRejects, expectThrows } from '../helpers/expect-error.js';

function envFileIn(t: TestContext): string {
  const dir = tempDir(t);
  return path.join(dir, 'shared', '.env');
}

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

test('set creates the env file 0600 (and its folder), and values read back exactly', async (t) => {
  const file = envFileIn(t);
  const tricky = { PLAIN: 'x', SPACED: '  two words  ', QUOTED: '"already quoted"', EQUALS: 'a=b=c', EMPTY: '', HASH: '#not-a-comment' };
  let first = true;
  for (const [key, value] of Object.entries(tricky)) {
    const edit = await setEnvFileValue(file, key, value);
    assert.equal(edit.created, first);
    assert.equal(edit.changed, true);
    first = false;
  }
  assert.equal(modeOf(file), 0o600);
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o750);
  assert.deepEqual(await readEnvFile(file), tricky);
  const again = await setEnvFileValue(file, 'PLAIN', 'x');
  assert.equal(again.changed, false, 'same value: nothing written');
});

test('set replaces a key in place, keeps comments and other lines, drops later duplicates; unset removes it', async (t) => {
  const file = envFileIn(t);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '# app settings\nA=1\nNOTES_TITLE=old\nB=2\nNOTES_TITLE=older\n', { mode: 0o600 });
  await setEnvFileValue(file, 'NOTES_TITLE', 'new');
  assert.equal(fs.readFileSync(file, 'utf8'), '# app settings\nA=1\nNOTES_TITLE=new\nB=2\n');
  const removed = await unsetEnvFileValue(file, 'NOTES_TITLE');
  assert.equal(removed.changed, true);
  assert.equal(fs.readFileSync(file, 'utf8'), '# app settings\nA=1\nB=2\n');
  assert.equal((await unsetEnvFileValue(file, 'NOTES_TITLE')).changed, false);
  assert.equal(modeOf(file), 0o600);
  // no temp files left beside it
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['.env']);
});

test('an env file readable by others is rewritten 0600 on the next edit, and says so', async (t) => {
  const file = envFileIn(t);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'A=1\n');
  fs.chmodSync(file, 0o644);
  const edit = await setEnvFileValue(file, 'A', '1');
  assert.equal(edit.fixedMode, 0o644);
  assert.equal(modeOf(file), 0o600);
});

test('a host folder that cannot be written: a clear error, not a crash', async (t) => {
  const file = envFileIn(t);
  fs.mkdirSync(path.dirname(path.dirname(file)), { recursive: true });
  fs.writeFileSync(path.dirname(file), 'a file where shared/ should be');
  await expectRejects(setEnvFileValue(file, 'A', '1'), 'ENV_FILE_UNWRITABLE', { hint: /slipway doctor/ });
});

test('keys are environment variable names, any case; values must be one line', () => {
  assert.deepEqual(parseAssignment('database__client=sqlite3'), { key: 'database__client', value: 'sqlite3' });
  assert.deepEqual(parseAssignment('server__port=2368'), { key: 'server__port', value: '2368' });
  expectThrows(() => parseAssignment('__proto__=1'), 'CONFIG_KEY_INVALID', { exitCode: 2 });
  expectThrows(() => parseAssignment('a.b=1'), 'CONFIG_KEY_INVALID', { exitCode: 2 });
  expectThrows(() => parseAssignment('1ABC=1'), 'CONFIG_KEY_INVALID', { exitCode: 2 });
  expectThrows(() => parseAssignment('A-B=1'), 'CONFIG_KEY_INVALID', { exitCode: 2 });
  expectThrows(() => parseAssignment('NOVALUE'), 'CONFIG_ASSIGNMENT_INVALID', { exitCode: 2 });
  expectThrows(() => parseAssignment('=x'), 'CONFIG_ASSIGNMENT_INVALID', { exitCode: 2 });
  expectThrows(() => parseAssignment('A=line\nbreak'), 'CONFIG_VALUE_INVALID', { exitCode: 2 });
  assert.deepEqual(parseAssignment('_A1=x=y'), { key: '_A1', value: 'x=y' });
});

test('set’s argument: KEY or KEY=- reads stdin; KEY=VALUE is as before; the stdin value loses one final line break only', () => {
  assert.deepEqual(parseSetArgument('API_TOKEN'), { key: 'API_TOKEN', fromStdin: true });
  assert.deepEqual(parseSetArgument('API_TOKEN=-'), { key: 'API_TOKEN', fromStdin: true });
  assert.deepEqual(parseSetArgument('API_TOKEN=--'), { key: 'API_TOKEN', value: '--' });
  assert.deepEqual(parseSetArgument('API_TOKEN=a-'), { key: 'API_TOKEN', value: 'a-' });
  assert.deepEqual(parseSetArgument('API_TOKEN='), { key: 'API_TOKEN', value: '' });
  expectThrows(() => parseSetArgument('a.b'), 'CONFIG_KEY_INVALID', { exitCode: 2 });
  expectThrows(() => parseSetArgument('=-'), 'CONFIG_ASSIGNMENT_INVALID', { exitCode: 2 });

  assert.equal(valueFromStdin('K', Buffer.from('secret\n')), 'secret');
  assert.equal(valueFromStdin('K', Buffer.from('secret\r\n')), 'secret');
  assert.equal(valueFromStdin('K', Buffer.from(' spaced ')), ' spaced ');
  expectThrows(() => valueFromStdin('K', Buffer.from('one\ntwo\n')), 'CONFIG_VALUE_INVALID', { exitCode: 2 });
  expectThrows(() => valueFromStdin('K', Buffer.from('secret\n\n')), 'CONFIG_VALUE_INVALID', { exitCode: 2 });
  expectThrows(() => valueFromStdin('K', Buffer.from('\n')), 'CONFIG_VALUE_MISSING', { exitCode: 2 });
  expectThrows(() => valueFromStdin('K', Buffer.alloc(64 * 1024 + 1, 'x')), 'CONFIG_VALUE_TOO_LONG', { exitCode: 2 });
  const error = expectThrows(() => valueFromStdin('K', Buffer.from('hunter2-secret\nx')), 'CONFIG_VALUE_INVALID');
  assert.ok(!`${error.message} ${error.hint ?? ''}`.includes('hunter2'), 'the message never shows the value');
});

test('describeAppConfig: each key with its source; secrets redacted; undeclared keys named without values', () => {
  const view = describeAppConfig({
    schema: [
      { name: 'TITLE', required: true, secret: false },
      { name: 'TOKEN', required: true, secret: true },
      { name: 'FROM_ENV', required: false, secret: true },
      { name: 'LEVEL', required: false, secret: false, default: 'info', description: 'log level' },
      { name: 'NEEDED', required: true, secret: false },
    ],
    envFile: { TITLE: 'Notes', TOKEN: 's3cr3t-value', EXTRA: 'hidden' },
    processEnv: { FROM_ENV: 'also-secret', TITLE: 'ignored: the env file wins' },
  });
  assert.deepEqual(
    view.entries.map((e) => [e.name, e.source, e.value]),
    [
      ['TITLE', 'env-file', 'Notes'],
      ['TOKEN', 'env-file', '***'],
      ['FROM_ENV', 'environment', '***'],
      ['LEVEL', 'default', 'info'],
      ['NEEDED', 'missing', null],
    ],
  );
  assert.deepEqual(view.undeclared, ['EXTRA']);
  assert.deepEqual(view.missing, ['NEEDED']);
  assert.doesNotMatch(JSON.stringify(view), /s3cr3t|also-secret|hidden/);
});
