/**
 * logs/agent.log rotates by size: a real process whose stdout and stderr are the file
 * (opened for appending, as the CLI starts the agent in the background) writes lines
 * as fast as it can and rotates its own log; nothing is lost, no file grows past the
 * limit by more than a line, three old files are kept.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ownLogRotation } from '../../src/agent/agent-log.js';
import { tailLines } from '../../src/runtime/rotating-log.js';
import { tempDir } from '../helpers/temp-dir.js';

const MODULE = fileURLToPath(new URL('../../src/agent/agent-log.js', import.meta.url));
const LIMIT = 20_000;

function runWriter(file: string, lines: number): Promise<number> {
  const script = `
    const { ownLogRotation } = await import(${JSON.stringify(MODULE)});
    const rotation = ownLogRotation({ file: ${JSON.stringify(file)}, maxBytes: ${LIMIT}, keep: 3 });
    if (!rotation) { process.stdout.write('NOT WATCHING\\n'); process.exit(3); }
    for (let i = 1; i <= ${lines}; i++) {
      // stdout and stderr alternate, as the agent's own lines and a crash trace would
      (i % 2 ? process.stderr : process.stdout).write('[agent] line ' + String(i).padStart(6, '0') + ' ' + 'x'.repeat(80) + '\\n');
      rotation.check();
    }
  `;
  const fd = openSync(file, 'a');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

test('agent.log rotates by size when it is the agent process output: .1 to .3 kept, no line lost or split', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'agent.log');
  writeFileSync(file, '');
  assert.equal(await runWriter(file, 1000), 0, readFileSync(file, 'utf8').slice(0, 200));

  const files = [`${file}.3`, `${file}.2`, `${file}.1`, file];
  for (const f of files) {
    assert.ok(existsSync(f), `${f} exists`);
    assert.ok(statSync(f).size <= LIMIT + 100, `${f} is ${statSync(f).size} bytes`);
  }
  assert.equal(existsSync(`${file}.4`), false, 'no fourth old file');
  const numbers = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean)).map((line) => {
    assert.match(line, /^\[agent\] line \d{6} x{80}$/);
    return Number(line.slice(13, 19));
  });
  // the newest lines, in order, with none missing, ending with the last one written
  assert.equal(numbers.at(-1), 1000);
  numbers.forEach((n, i) => i > 0 && assert.equal(n, numbers[i - 1]! + 1, `line ${n} follows ${numbers[i - 1]}`));
  assert.ok(numbers.length > 600, `${numbers.length} lines kept`);
  // the file was emptied, not replaced: no hole of zero bytes where the old content was
  assert.ok(!readFileSync(file).includes(0));
  // the tail reads across the rotation
  assert.deepEqual((await tailLines(file, 2)).map((l) => l.slice(0, 19)), ['[agent] line 000999', '[agent] line 001000']);
});

test('an agent whose output is not agent.log (a terminal, a pipe, another file) leaves agent.log alone', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'agent.log');
  writeFileSync(file, 'x'.repeat(LIMIT * 2));
  const other = path.join(dir, 'other.log');
  writeFileSync(other, '');
  const fd = openSync(other, 'a');
  t.after(() => closeSync(fd));
  assert.equal(ownLogRotation({ file, fd, maxBytes: LIMIT }), null);
  assert.equal(ownLogRotation({ file: path.join(dir, 'missing.log'), fd, maxBytes: LIMIT }), null);
  assert.equal(statSync(file).size, LIMIT * 2);
});
