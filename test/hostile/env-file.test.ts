/**
 * The host's env file (shared/.env, the app's config values and secrets) and the
 * `KEY=VALUE` assignments of `slipway config set`: hostile lines, file kinds and
 * permissions. Every case: the expected SlipwayError (never a raw fs or spawn error
 * later), no value quoted in a message, and what `config set` writes always reads back
 * exactly.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { SlipwayError } from '../../src/errors.js';
import { readEnvFile } from '../../src/host/app-env.js';
import { parseAssignment, setEnvFileValue } from '../../src/plan/app-config.js';
import { assertSlipwayError, expectRejects, expectThrows, fcOptions, tempRoot, withinDeadline } from './harness.js';

const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();

function envFile(t: TestContext, content: string | Buffer, mode = 0o600): string {
  const file = path.join(tempRoot(t), '.env');
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
  return file;
}

const SECRET_VALUE = 'sup3r-secret-env-value';

const INVALID_LINES: { name: string; content: string; line: number }[] = [
  { name: 'a line without =', content: 'A=1\nJUST_A_KEY\n', line: 2 },
  { name: 'a line starting with =', content: `=${SECRET_VALUE}\n`, line: 1 },
  { name: 'a NUL byte in a value (spawn would refuse it later and quote the value)', content: `A=1\nSECRET_KEY=${SECRET_VALUE}\0tail\n`, line: 2 },
  { name: 'a NUL byte in a key', content: `SECRET\0KEY=${SECRET_VALUE}\n`, line: 1 },
  { name: 'a NUL byte alone on a line', content: 'A=1\n\0\n', line: 2 },
];

for (const c of INVALID_LINES) {
  test(`env file: ${c.name} → ENV_FILE_INVALID at line ${c.line}, without quoting the value`, async (t) => {
    const file = envFile(t, c.content);
    const error = await expectRejects(readEnvFile(file), 'ENV_FILE_INVALID', new RegExp(`:${c.line}: `));
    assert.ok(!error.message.includes(SECRET_VALUE) && !(error.hint ?? '').includes(SECRET_VALUE), 'the value is not quoted');
  });
}

test('env file: readable by the group → ENV_FILE_PERMISSIONS, and nothing read', async (t) => {
  await expectRejects(readEnvFile(envFile(t, 'A=1\n', 0o640)), 'ENV_FILE_PERMISSIONS', /mode 640/);
});

test('env file: readable by everyone → ENV_FILE_PERMISSIONS', async (t) => {
  await expectRejects(readEnvFile(envFile(t, 'A=1\n', 0o604)), 'ENV_FILE_PERMISSIONS', /mode 604/);
});

test('env file: a 0600 symbolic link to a world-readable file → ENV_FILE_PERMISSIONS (the target counts)', async (t) => {
  const root = tempRoot(t);
  fs.writeFileSync(path.join(root, 'shared-secrets'), 'A=1\n', { mode: 0o644 });
  fs.chmodSync(path.join(root, 'shared-secrets'), 0o644);
  fs.symlinkSync(path.join(root, 'shared-secrets'), path.join(root, '.env'));
  await expectRejects(readEnvFile(path.join(root, '.env')), 'ENV_FILE_PERMISSIONS');
});

test('env file: a private folder where the file should be → ENV_FILE_UNREADABLE, not a raw EISDIR', async (t) => {
  const dir = path.join(tempRoot(t), '.env');
  fs.mkdirSync(dir, { mode: 0o700 });
  await expectRejects(readEnvFile(dir), 'ENV_FILE_UNREADABLE', /not a regular file/);
});

test('env file: a symbolic link loop → ENV_FILE_UNREADABLE, not a raw ELOOP', async (t) => {
  const file = path.join(tempRoot(t), '.env');
  fs.symlinkSync(file, file);
  await expectRejects(readEnvFile(file), 'ENV_FILE_UNREADABLE');
});

test('env file: a FIFO where the file should be → ENV_FILE_UNREADABLE at once, not a read that waits forever', async (t) => {
  const fifo = path.join(tempRoot(t), '.env');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  t.after(() => {
    // Should a reader be blocked on it, open it for writing and close it: the reader gets end-of-file.
    try {
      fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
    } catch {
      // no reader waiting: nothing to release
    }
  });
  const error = await withinDeadline(readEnvFile(fifo).then(() => undefined, (e: unknown) => e), 5000, 'readEnvFile on a FIFO');
  assertSlipwayError(error, 'ENV_FILE_UNREADABLE');
});

test('env file: a path through a file (ENOTDIR) reads as no file, like a missing one', async (t) => {
  const file = envFile(t, 'A=1\n');
  assert.deepEqual(await readEnvFile(path.join(file, '.env')), {});
  assert.deepEqual(await readEnvFile(path.join(path.dirname(file), 'missing', '.env')), {});
});

const ACCEPTED: { name: string; content: string | Buffer; values: Record<string, string> }[] = [
  { name: 'CRLF line endings', content: 'A=1\r\nB=two words\r\n', values: { A: '1', B: 'two words' } },
  { name: 'a byte-order mark', content: '\uFEFFA=1\n', values: { A: '1' } },
  { name: 'quoted values, = inside values, comments and blank lines', content: '# c\n\nA="  spaced  "\nB=\'x=y\'\nC=a=b=c\n  # indented comment\nD=""\n', values: { A: '  spaced  ', B: 'x=y', C: 'a=b=c', D: '' } },
  { name: 'an unterminated quote (kept as written)', content: 'A="open\n', values: { A: '"open' } },
  { name: 'a duplicate key (the last wins)', content: 'A=1\nA=2\n', values: { A: '2' } },
  { name: 'prototype keys (__proto__ is dropped, nothing is polluted)', content: '__proto__=polluted\nconstructor=x\nhasOwnProperty=y\n', values: { constructor: 'x', hasOwnProperty: 'y' } },
  { name: 'invalid UTF-8 (read as replacement characters, no crash)', content: Buffer.from([0x41, 0x3d, 0xff, 0xfe, 0x0a]), values: { A: '\ufffd\ufffd' } },
  { name: 'a 5 MB value', content: `A=${'x'.repeat(5_000_000)}\n`, values: { A: 'x'.repeat(5_000_000) } },
];

for (const c of ACCEPTED) {
  test(`env file: ${c.name} → read as written`, async (t) => {
    const values = await readEnvFile(envFile(t, c.content));
    assert.deepEqual({ ...values }, c.values);
    assert.equal(Object.getPrototypeOf(values), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTOTYPE_KEYS);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
}

// --- `slipway config set` assignments

const ASSIGNMENTS: { name: string; text: string; code: string }[] = [
  { name: 'no =', text: 'NOTES_TITLE', code: 'CONFIG_ASSIGNMENT_INVALID' },
  { name: 'nothing before =', text: '=x', code: 'CONFIG_ASSIGNMENT_INVALID' },
  { name: 'a key with a dot', text: 'notes.title=x', code: 'CONFIG_KEY_INVALID' },
  { name: 'a key starting with a digit', text: '1KEY=x', code: 'CONFIG_KEY_INVALID' },
  { name: 'a key with a space', text: 'MY KEY=x', code: 'CONFIG_KEY_INVALID' },
  { name: 'a key with a non-ASCII letter', text: 'K\u00c9Y=x', code: 'CONFIG_KEY_INVALID' },
  { name: 'a __proto__ key', text: '__proto__=x', code: 'CONFIG_KEY_INVALID' },
  { name: 'a key that smuggles a second line', text: 'A\nB=x', code: 'CONFIG_KEY_INVALID' },
  { name: 'a value that smuggles a second line into the env file', text: 'A=1\nPATH=/tmp/evil', code: 'CONFIG_VALUE_INVALID' },
  { name: 'a value with a carriage return', text: 'A=1\rB=2', code: 'CONFIG_VALUE_INVALID' },
  { name: 'a value with a NUL byte', text: 'A=1\0', code: 'CONFIG_VALUE_INVALID' },
];

for (const c of ASSIGNMENTS) {
  test(`config assignment: ${c.name} → ${c.code}`, () => {
    const error = expectThrows(() => parseAssignment(c.text), c.code);
    assert.equal(error.exitCode, 2);
  });
}

test('config assignment: a 1 MB argument without = is quoted only in part', () => {
  const error = expectThrows(() => parseAssignment(`SECRET${'x'.repeat(1_000_000)}`), 'CONFIG_ASSIGNMENT_INVALID');
  assert.ok(error.message.length < 200, `${error.message.length} characters`);
});

// --- properties

const keyArbitrary = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/);
/** Values `config set` accepts: anything but line breaks and NUL, with quotes, = and Unicode spaces likely. */
const valueArbitrary = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.array(fc.constantFrom('"', "'", '=', ' ', '\t', '#', 'a', '\u00a0', '\u2028', '\uFEFF', '\v', 'é', '$', '\\'), { maxLength: 10 }).map((parts) => parts.join('')),
).filter((value) => !/[\r\n\0]/.test(value));

const existingLine = fc.oneof(
  fc.tuple(keyArbitrary, valueArbitrary).map(([key, value]) => `${key}=${value}`),
  fc.tuple(keyArbitrary, valueArbitrary).map(([key, value]) => `  ${key} = ${value}\r`),
  fc.constantFrom('', '# a comment', '   ', '#KEY=commented out'),
);

test('env file property: for any value `config set` accepts and any existing file, the value reads back exactly and the other keys keep theirs', async (t) => {
  const root = tempRoot(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(existingLine, { maxLength: 6 }), keyArbitrary, valueArbitrary, async (lines, key, value) => {
      run += 1;
      const file = path.join(root, `env-${run}`);
      fs.writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
      const before = await readEnvFile(file);
      const { key: parsedKey, value: parsedValue } = parseAssignment(`${key}=${value}`);
      assert.equal(parsedKey, key);
      assert.equal(parsedValue, value);
      await setEnvFileValue(file, key, value);
      const after = await readEnvFile(file);
      assert.equal(after[key], value, `${JSON.stringify(value)} was written as ${JSON.stringify(fs.readFileSync(file, 'utf8'))}`);
      assert.deepEqual({ ...after, [key]: undefined }, { ...before, [key]: undefined });
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      fs.rmSync(file);
    }),
    fcOptions(150),
  );
});

test('env file property: any text in a private file → values or ENV_FILE_INVALID, never another error', async (t) => {
  const root = tempRoot(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b))), async (content) => {
      run += 1;
      const file = path.join(root, `env-${run}`);
      fs.writeFileSync(file, content, { mode: 0o600 });
      try {
        const values = await readEnvFile(file);
        for (const [key, value] of Object.entries(values)) {
          assert.ok(!key.includes('\0') && !value.includes('\0'), 'no NUL byte reaches a process environment');
          assert.ok(!key.includes('\n') && !value.includes('\n'));
        }
      } catch (error) {
        assert.ok(error instanceof SlipwayError, String(error));
        assert.equal(error.code, 'ENV_FILE_INVALID');
      }
      fs.rmSync(file);
    }),
    fcOptions(200),
  );
});
