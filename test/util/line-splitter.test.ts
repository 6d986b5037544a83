import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { test } from 'node:test';
import { createLineSplitter, onLines } from '../../src/util/line-splitter.js';

function collect(options?: { maxLineLength?: number }) {
  const lines: string[] = [];
  const splitter = createLineSplitter((line) => lines.push(line), options);
  return { lines, splitter };
}

test('whole lines in one chunk come out one by one', () => {
  const { lines, splitter } = collect();
  splitter.push(Buffer.from('one\ntwo\nthree\n'));
  assert.deepEqual(lines, ['one', 'two', 'three']);
  splitter.end();
  assert.deepEqual(lines, ['one', 'two', 'three'], 'nothing left over after a final newline');
});

test('a line cut between two chunks comes out once, whole', () => {
  const { lines, splitter } = collect();
  splitter.push(Buffer.from('migrating ta'));
  assert.deepEqual(lines, [], 'nothing until the line is complete');
  splitter.push(Buffer.from('ble notes\nnext'));
  assert.deepEqual(lines, ['migrating table notes']);
  splitter.push('\n');
  assert.deepEqual(lines, ['migrating table notes', 'next']);
});

test('a line cut into many chunks, a byte at a time', () => {
  const { lines, splitter } = collect();
  for (const byte of Buffer.from('abc\ndef\n')) splitter.push(Buffer.from([byte]));
  assert.deepEqual(lines, ['abc', 'def']);
});

test('the last line without a newline comes out at the end', () => {
  const { lines, splitter } = collect();
  splitter.push('done\nno newline here');
  assert.deepEqual(lines, ['done']);
  splitter.end();
  assert.deepEqual(lines, ['done', 'no newline here']);
  splitter.end();
  assert.deepEqual(lines, ['done', 'no newline here'], 'a second end gives nothing more');
});

test('a character of several bytes cut between chunks is kept whole', () => {
  const { lines, splitter } = collect();
  const bytes = Buffer.from('café → ok\n');
  const cut = bytes.indexOf(Buffer.from('→')) + 1; // inside the three bytes of →
  splitter.push(bytes.subarray(0, cut));
  splitter.push(bytes.subarray(cut));
  assert.deepEqual(lines, ['café → ok']);
});

test('empty lines are given; a \\r\\n ending loses its \\r, also when cut between chunks', () => {
  const { lines, splitter } = collect();
  splitter.push('a\r\n\nb\r');
  splitter.push('\nc\rd\n');
  assert.deepEqual(lines, ['a', '', 'b', 'c\rd']);
});

test('a line longer than the limit comes out in pieces', () => {
  const { lines, splitter } = collect({ maxLineLength: 4 });
  splitter.push('abcdefghij');
  assert.deepEqual(lines, ['abcd', 'efgh']);
  splitter.push('\n');
  assert.deepEqual(lines, ['abcd', 'efgh', 'ij']);
});

test('onLines reads a stream to its end, the last line included', async () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  onLines(stream, (line) => lines.push(line));
  stream.write('first li');
  stream.write('ne\nsecond');
  stream.end();
  await once(stream, 'end');
  assert.deepEqual(lines, ['first line', 'second']);
});
