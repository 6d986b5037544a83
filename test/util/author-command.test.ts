import assert from 'node:assert/strict';
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { runAuthorCommand } from '../../src/util/author-command.js';
import { expectRejects } from '../helpers/expect-error.js';
import { tempDir } from '../helpers/temp-dir.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

test('a line written in two pieces arrives as one line', async (t) => {
  const cwd = tempDir(t, 'slipway-author-');
  const lines: string[] = [];
  // Two writes with a pause between them reach the pipe as two chunks.
  await runAuthorCommand({ command: "printf 'migrating ta'; sleep 0.3; printf 'ble notes\\n'; echo done", cwd, env, timeoutMs: 10_000, onLine: (line) => lines.push(line) });
  assert.deepEqual(lines, ['migrating table notes', 'done']);
});

test('stdout and stderr are both given, blank lines left out, the last line without a newline kept', async (t) => {
  const cwd = tempDir(t, 'slipway-author-');
  const lines: string[] = [];
  await runAuthorCommand({ command: "echo out; echo; echo err >&2; printf 'last'", cwd, env, timeoutMs: 10_000, onLine: (line) => lines.push(line) });
  assert.deepEqual([...lines].sort(), ['err', 'last', 'out']);
});

test('it runs in cwd with exactly the given environment', async (t) => {
  const cwd = tempDir(t, 'slipway-author-');
  const lines: string[] = [];
  await runAuthorCommand({ command: 'pwd; echo "$ONLY_THIS-${HOME:-nohome}"', cwd, env: { ...env, ONLY_THIS: 'yes' }, timeoutMs: 10_000, onLine: (line) => lines.push(line) });
  assert.deepEqual(lines, [cwd, 'yes-nohome']);
});

test('a failing command rejects with COMMAND_FAILED and its last 20 lines', async (t) => {
  const cwd = tempDir(t, 'slipway-author-');
  const command = 'for i in $(seq 1 30); do echo "line $i"; done; exit 3';
  const error = await expectRejects(runAuthorCommand({ command, cwd, env, timeoutMs: 10_000 }), 'COMMAND_FAILED');
  assert.equal(error.exitCode, 1);
  assert.equal(error.message, `\`${command}\` exited with code 3`);
  assert.deepEqual(error.details, ['last output:', ...Array.from({ length: 20 }, (_, i) => `  line ${i + 11}`)]);
  assert.equal(error.hint, 'fix the command (run it by hand in the release folder to see more) and deploy again');
});

test('over its time limit, the command and everything it started are killed, with the same error as before', async (t) => {
  const cwd = tempDir(t, 'slipway-author-');
  const marker = path.join(cwd, 'survived');
  // A background child in the same process group must die with it: it would otherwise write the marker.
  const command = `(sleep 2; touch ${marker}) & echo started; sleep 30`;
  const started = performance.now();
  const lines: string[] = [];
  const error = await expectRejects(runAuthorCommand({ command, cwd, env, timeoutMs: 300, onLine: (line) => lines.push(line) }), 'COMMAND_FAILED');
  assert.ok(performance.now() - started < 5_000, 'it did not wait for the command to finish');
  assert.equal(error.message, `\`${command}\` was killed (SIGKILL, over its 300 ms limit)`);
  assert.deepEqual(error.details, ['last output:', '  started']);
  assert.equal(error.hint, 'fix the command (run it by hand in the release folder to see more) and deploy again');
  assert.deepEqual(lines, ['started']);
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  assert.equal(existsSync(marker), false, 'the background child was killed with the group');
});

test('a command that cannot start rejects with COMMAND_FAILED', async (t) => {
  const cwd = path.join(tempDir(t, 'slipway-author-'), 'missing');
  const error = await expectRejects(runAuthorCommand({ command: 'true', cwd, env, timeoutMs: 10_000 }), 'COMMAND_FAILED');
  assert.match(error.message, /^`true` could not start: /);
  assert.equal(error.hint, 'check the command in slipway.yml');
});
