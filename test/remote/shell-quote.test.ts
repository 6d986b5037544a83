import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { quoteShellArgument, remoteCommandLine } from '../../src/remote/shell-quote.js';
import { expectThrows } from '../helpers/expect-error.js';

const execFileAsync = promisify(execFile);

/** What a real POSIX shell makes of the command line: the words it hands to the program, NUL-separated. */
async function wordsSeenByShell(commandLine: string, extraEnv: Record<string, string> = {}): Promise<string[]> {
  // printf receives exactly the words the shell parsed; %s\0 keeps newlines inside words intact
  const { stdout } = await execFileAsync('sh', ['-c', `${commandLine}`], { env: { ...process.env, ...extraEnv }, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const text = stdout.toString('utf8');
  return text.split('\0').slice(0, -1);
}

const NASTY = [
  '',
  ' ',
  'two words',
  "it's",
  "''",
  "'\\''",
  '"double"',
  '$HOME',
  '${PATH}',
  '$(touch /tmp/slipway-pwned)',
  '`id`',
  'a\nb',
  '\n',
  'tab\there',
  '*',
  '/*',
  '?',
  '[a-z]*',
  '~',
  '~root',
  '-n',
  '--help',
  '-e',
  'a;b',
  'a && b',
  'a | b',
  '> out',
  '<in',
  '!',
  '!!',
  '#comment',
  'back\\slash',
  '\\',
  'ünïcødé ✓ 日本語 🚀',
  'x=y',
  '%s',
  '\u0001\u001b[31m',
];

test('quoteShellArgument single-quotes and escapes quotes', () => {
  assert.equal(quoteShellArgument('plain'), "'plain'");
  assert.equal(quoteShellArgument(''), "''");
  assert.equal(quoteShellArgument("it's"), "'it'\\''s'");
});

test('quoteShellArgument refuses NUL, which no argument can carry', () => {
  expectThrows(() => quoteShellArgument('a\0b'), 'SHELL_ARGUMENT_NUL', { hint: /./ });
});

test('nasty arguments survive a real sh -c exactly, and nothing in them runs', async () => {
  const words = await wordsSeenByShell(remoteCommandLine(['printf', '%s\\0', ...NASTY]));
  assert.deepEqual(words, NASTY);
});

test('a leading-dash or spaced program name is still one word', async () => {
  const line = remoteCommandLine(['printf', '%s\\0', '-v']);
  assert.equal(line, "'printf' '%s\\0' '-v'");
  assert.deepEqual(await wordsSeenByShell(line), ['-v']);
});

test('env becomes a leading env K=V and reaches the command', async () => {
  const value = "it's $(x) `y` \n * done";
  const line = remoteCommandLine(['sh', '-c', 'printf "%s\\0" "$GREETING" "$OTHER"'], { GREETING: value, OTHER: '' });
  assert.ok(line.startsWith("env 'GREETING="));
  // the outer environment must not leak in: the value comes from env, not from the caller
  assert.deepEqual(await wordsSeenByShell(line, { GREETING: 'wrong' }), [value, '']);
});

test('no env: no env prefix', () => {
  assert.equal(remoteCommandLine(['true'], {}), "'true'");
});

test('invalid env names are refused', () => {
  for (const name of ['1ABC', 'A-B', 'A B', '', 'A=B', '$(x)']) {
    expectThrows(() => remoteCommandLine(['true'], { [name]: 'v' }), 'INVALID_ENV_NAME', { context: name });
  }
  assert.equal(remoteCommandLine(['true'], { _OK_1: 'v' }), "env '_OK_1=v' 'true'");
});

test('a program name containing "=" cannot run under env and is refused', () => {
  expectThrows(() => remoteCommandLine(['a=b'], { K: 'v' }), 'INVALID_REMOTE_COMMAND');
});

test('an empty argv is a programming error', () => {
  assert.throws(() => remoteCommandLine([]));
});

test('any strings without NUL round-trip through sh -c (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')), { maxLength: 8 }), async (args) => {
      // lone surrogates cannot be encoded as UTF-8, so compare what UTF-8 makes of them
      const expected = args.map((arg) => Buffer.from(arg, 'utf8').toString('utf8'));
      // printf prints its format once even without arguments: a first word keeps that apart from ['']
      assert.deepEqual(await wordsSeenByShell(remoteCommandLine(['printf', '%s\\0', 'first', ...args])), ['first', ...expected]);
    }),
    { numRuns: 150 },
  );
});

test('any env values round-trip through sh -c (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0')), async (value) => {
      const line = remoteCommandLine(['sh', '-c', 'printf "%s\\0" "$V"'], { V: value });
      assert.deepEqual(await wordsSeenByShell(line), [value]);
    }),
    { numRuns: 60 },
  );
});
