/**
 * Hostile slipway.yml texts against parseProjectText: it must never throw, never hang,
 * never pollute Object.prototype, never echo a secret, and pin every problem to a line
 * and column. The readable cases live in corpus/*.yml, each with `# expect: <regex>`
 * (matched against the formatted problems) and optional `# never: <text>` lines (text
 * that must not appear in any problem or warning); the rest are generated here.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatProblem, parseProjectText, type ParsedProjectText } from '../../src/config/load.js';
import { assertPrototypeClean, fcOptions, runWithDeadline } from './harness.js';

const CORPUS = new URL('../../../test/hostile/corpus/', import.meta.url);
const LOAD_MODULE = new URL('../../src/config/load.js', import.meta.url);

const VALID = `app: notes
services:
  web:
    command: node server.js
    port_env: HTTP_PORT
    env: { NODE_ENV: production, WORKERS: 4 }
    health: { path: /up, interval: 250ms, timeout: 1.5s, successes: 3, deadline: 1m }
  worker:
    command: node worker.js
build:
  commands: [npm ci --omit=dev, npm run build]
  include: ["dist/**", package.json]
data:
  databases:
    main: { engine: sqlite, path: data/notes.db }
  folders: [uploads]
migrate:
  command: node migrate.js
hooks:
  before_migrate: [echo hi]
config:
  NOTES_TITLE: { default: "Notes", description: "shown in the header" }
  SESSION_SECRET: { required: true, secret: true }
environments:
  production:
    host: ssh://deploy@notes.example.com:2222
    root: /srv/notes
    port: 8080
    retention: { releases: 3 }
  staging:
    port: 8081
`;

function lineCount(text: string): number {
  let lines = 1;
  for (const char of text) if (char === '\n') lines += 1;
  return lines;
}

/** The invariants every result must keep, whatever the input. */
function assertWellFormed(result: ParsedProjectText, text: string, file: string): void {
  const lines = lineCount(text);
  for (const problem of result.problems) {
    assert.equal(problem.file, file);
    assert.ok(Number.isInteger(problem.line) && problem.line >= 1 && problem.line <= lines, `line ${problem.line} of ${lines}: ${formatProblem(problem)}`);
    assert.ok(Number.isInteger(problem.column) && problem.column >= 1, `column ${problem.column}: ${formatProblem(problem)}`);
    assert.equal(typeof problem.message, 'string');
    assert.ok(problem.message.length > 0);
  }
  for (const warning of result.warnings) assert.ok(warning.startsWith(`${file}:`), warning);
  if (result.config) assert.deepEqual(result.problems, [], 'a config comes only without problems');
  else assert.ok(result.problems.length > 0, 'no config means at least one problem');
}

function allText(result: ParsedProjectText): string {
  return [...result.problems.map(formatProblem), ...result.warnings].join('\n');
}

// --- the corpus files

const corpusFiles = fs.readdirSync(CORPUS).filter((name) => name.endsWith('.yml')).sort();

test('project file corpus: every file carries an expectation', () => {
  assert.ok(corpusFiles.length >= 25, `${corpusFiles.length} corpus files`);
  for (const name of corpusFiles) assert.match(fs.readFileSync(new URL(name, CORPUS), 'utf8'), /^# expect: .+$/m, name);
});

for (const name of corpusFiles) {
  test(`project file: corpus/${name}`, () => {
    const text = fs.readFileSync(new URL(name, CORPUS), 'utf8');
    const expected = new RegExp(/^# expect: (.+)$/m.exec(text)![1]);
    const never = [...text.matchAll(/^# never: (.+)$/gm)].map((match) => match[1]);
    const result = parseProjectText(text, name);
    assertWellFormed(result, text, name);
    assert.equal(result.config, undefined, 'a hostile file must not load');
    const shown = allText(result);
    assert.match(shown, expected);
    for (const secret of never) {
      assert.ok(!shown.includes(secret), `echoed ${secret}`);
      assert.ok(!JSON.stringify(result.problems).includes(secret), `echoed ${secret} in a problem field`);
    }
    assertPrototypeClean();
  });
}

// --- generated cases

interface TextCase {
  name: string;
  text: () => string;
  expect: RegExp;
}

const TEXT_CASES: TextCase[] = [
  { name: '100,000 nested flow lists', text: () => `app: ${'['.repeat(100_000)}${']'.repeat(100_000)}`, expect: /call stack|nest|depth/i },
  { name: '20,000 nested flow mappings', text: () => `app: ${'{a: '.repeat(20_000)}1${'}'.repeat(20_000)}`, expect: /call stack|nest|depth/i },
  { name: '5,000 nested block mappings', text: () => Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'), expect: /call stack|unknown key|nest/i },
  { name: '3,000 nested anchors', text: () => `app: demo\nx: ${Array.from({ length: 3000 }, (_, i) => `&a${i} [`).join('')}${']'.repeat(3000)}\n`, expect: /call stack|unknown key/i },
  { name: 'binary garbage: every byte value', text: () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff)).toString('latin1'), expect: /./ },
  { name: 'invalid UTF-8 (replacement characters)', text: () => Buffer.from([0xff, 0xfe, 0x61, 0x70, 0x70, 0x3a, 0x20, 0xc3, 0x28, 0x0a]).toString('utf8'), expect: /./ },
  { name: 'NUL bytes inside keys and values', text: () => VALID.replace('app: notes', 'app: no\0tes').replace('port: 8081', 'po\0rt: 8081'), expect: /app: expected an app name|unknown key/ },
  { name: 'lone surrogates', text: () => `app: "\uD800"\nservices: {web: {command: "\uDFFF"}}\nenvironments: {production: {port: 8080}}\n`, expect: /app: expected an app name/ },
  { name: 'CR-only line endings', text: () => VALID.replaceAll('\n', '\r'), expect: /./ },
  { name: 'a NEL and a line separator as line breaks', text: () => VALID.replace('\nservices:', '\u0085services:').replace('\nbuild:', '\u2028build:'), expect: /./ },
  { name: '2,000 unknown top-level keys (all reported, each at its line)', text: () => `${VALID}${Array.from({ length: 2000 }, (_, i) => `unknown_${i}: ${i}`).join('\n')}\n`, expect: /unknown_1999/ },
  { name: '2,000 duplicate keys', text: () => `${VALID}${Array.from({ length: 2000 }, () => 'app: again').join('\n')}\n`, expect: /duplicate key `app`/ },
  { name: 'a problem after a million empty lines', text: () => `${'\n'.repeat(1_000_000)}app: 5\nservices: {web: {command: x}}\nenvironments: {production: {port: 8080}}\n`, expect: /:1000001:6: app: expected the app name/ },
  { name: 'a problem at the end of a 1 MB line', text: () => `app: demo\nservices: {web: {command: x}}\nenvironments: {production: {port: 8080, root: ${JSON.stringify('a'.repeat(1_000_000))}, host: 12}}\n`, expect: /:3:1000057: environments\.production\.host/ },
];

for (const c of TEXT_CASES) {
  test(`project file: ${c.name}`, () => {
    const text = c.text();
    let result: ParsedProjectText | undefined;
    assert.doesNotThrow(() => (result = parseProjectText(text, 'slipway.yml')));
    assertWellFormed(result!, text, 'slipway.yml');
    assert.equal(result!.config, undefined);
    assert.match(allText(result!), c.expect);
    assertPrototypeClean();
  });
}

test('project file: a byte-order mark or CRLF line endings load the same config as the plain file', () => {
  const plain = parseProjectText(VALID, 'slipway.yml');
  assert.deepEqual(plain.problems, []);
  for (const variant of [`\uFEFF${VALID}`, VALID.replaceAll('\n', '\r\n'), `\uFEFF${VALID.replaceAll('\n', '\r\n')}`]) {
    const result = parseProjectText(variant, 'slipway.yml');
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.config, plain.config);
  }
});

// Hang checks run in a worker: parseProjectText is synchronous, so a slow regex would
// otherwise block the test runner itself. The deadline is ~50× what the input needs.
const HUGE_VALUES: { name: string; value: string }[] = [
  { name: 'a 2 MB run of letters', value: 'a'.repeat(2_000_000) },
  { name: 'a 1 MB run of scheme characters with no ://', value: 'ab+c.d-'.repeat(150_000) },
  { name: 'a 1 MB user part after a scheme', value: `x://${'u'.repeat(1_000_000)}` },
  { name: '1 MB of colons after a scheme', value: `x://${':'.repeat(1_000_000)}` },
  { name: '200,000 URLs with passwords', value: 'http://u:p@h '.repeat(200_000) },
];

for (const { name, value } of HUGE_VALUES) {
  test(`project file: ${name} as a command is answered promptly`, async () => {
    const text = `app: demo\nservices: {web: {command: ${JSON.stringify(value)}, port_env: 5}}\nenvironments: {production: {port: 8080}}\n`;
    const result = await runWithDeadline<ParsedProjectText>({ moduleUrl: LOAD_MODULE, exportName: 'parseProjectText', args: [text, 'slipway.yml'], deadlineMs: 20_000 });
    assertWellFormed(result, text, 'slipway.yml');
    assert.match(allText(result), /services\.web\.port_env/);
  });
}

// --- properties

const KNOWN_KEYS = [
  'app', 'services', 'web', 'worker', 'command', 'port_env', 'env', 'health', 'path', 'interval', 'timeout', 'successes', 'deadline',
  'build', 'commands', 'include', 'exclude', 'data', 'databases', 'main', 'engine', 'url_env', 'folders', 'migrate', 'reversible',
  'hooks', 'before_migrate', 'after_finish', 'config', 'NOTES_TITLE', 'required', 'secret', 'default', 'description',
  'environments', 'production', 'staging', 'host', 'root', 'port', 'bind', 'store', 'type', 'bucket', 'require_signature',
  'public_keys', 'retention', 'releases', 'backups', 'health_window', 'drain_timeout', 'pull', 'management', 'signing', 'key', 'upgrade', 'from',
];
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', '<<', '""', '? complex', 'a b', '-', '"\\u0000"', 'DB_PASSWORD', 'API_TOKEN', '1', '~', 'k'.repeat(1100), '&anchor key', '*alias', '!!str tagged'];
const HOSTILE_SCALARS = [
  '', '~', 'null', 'true', 'yes', 'off', '0', '-1', '65536', '0x1F', '0o17', '1e999', '-.inf', '.nan', '1.5', '"quoted"', "'single'", '"unterminated', "'it''s'",
  '|\n  literal block', '>-\n  folded', '&a anchored', '*a', '*undefined', '!!str 5', '!!int x', '!!binary aGk=', '!!js/undefined x', '!custom x', '!!set {a}',
  '[a, b', '{a: ', '[]', '{}', '%', '@', '`', '- item', '? key', ': value', '#comment', 'a #comment', 'ssh://u:p@h', 'postgres://a:b@c/d', '$PASSWORD',
  '\t', '\u00e9', '\u0000', '\uFEFF', '\u2028', '\r', '500ms', '2s', '1m', '-1s', '/srv/app', '../../etc', '/healthz', 'keys/prod.pub', 'x'.repeat(3000),
];

type Node = { kind: 'scalar'; text: string } | { kind: 'map'; flow: boolean; entries: [string, Node][] } | { kind: 'seq'; flow: boolean; items: Node[] };

const keyArbitrary = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...KNOWN_KEYS) }, { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const scalarArbitrary = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...HOSTILE_SCALARS) }, { weight: 2, arbitrary: fc.string({ maxLength: 20 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) });

const { node: nodeArbitrary } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarArbitrary.map((text): Node => ({ kind: 'scalar', text })),
    fc.record({ kind: fc.constant('map' as const), flow: fc.boolean(), entries: fc.array(fc.tuple(keyArbitrary, tie('node')), { maxLength: 5 }) }),
    fc.record({ kind: fc.constant('seq' as const), flow: fc.boolean(), items: fc.array(tie('node'), { maxLength: 4 }) }),
  ),
}));

function renderFlow(node: Node): string {
  if (node.kind === 'scalar') return node.text;
  if (node.kind === 'seq') return `[${node.items.map(renderFlow).join(', ')}]`;
  return `{${node.entries.map(([key, value]) => `${key}: ${renderFlow(value)}`).join(', ')}}`;
}

/** Block style where the generator says so, flow style inside; indentation as YAML wants it (or not, when scalars break it). */
function renderBlock(node: Node, indent: number): string {
  const pad = ' '.repeat(indent);
  if (node.kind === 'scalar' || node.flow) return `${pad}${renderFlow(node)}`;
  if (node.kind === 'seq') {
    if (node.items.length === 0) return `${pad}[]`;
    return node.items.map((item) => (item.kind === 'scalar' || item.flow ? `${pad}- ${renderFlow(item)}` : `${pad}-\n${renderBlock(item, indent + 2)}`)).join('\n');
  }
  if (node.entries.length === 0) return `${pad}{}`;
  return node.entries
    .map(([key, value]) => (value.kind === 'scalar' || value.flow ? `${pad}${key}: ${renderFlow(value)}` : `${pad}${key}:\n${renderBlock(value, indent + 2)}`))
    .join('\n');
}

/** A document that looks like a project file: mostly the real top-level keys, with hostile subtrees. */
const documentArbitrary = fc
  .array(fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom('app', 'services', 'build', 'data', 'migrate', 'hooks', 'config', 'environments', 'signing', 'upgrade') }, { weight: 1, arbitrary: keyArbitrary }), nodeArbitrary), { maxLength: 8 })
  .map((entries) => renderBlock({ kind: 'map', flow: false, entries }, 0));

test('project file property: any grammar-generated document → no throw, every problem at a real line ≥ 1 and column ≥ 1', () => {
  fc.assert(
    fc.property(documentArbitrary, (text) => {
      const result = parseProjectText(text, 'slipway.yml');
      assertWellFormed(result, text, 'slipway.yml');
      assertPrototypeClean();
    }),
    fcOptions(300),
  );
});

type TextMutation = { kind: 'delete' | 'insert' | 'duplicate-line' | 'swap-lines'; at: number; text: string };

function applyTextMutation(text: string, m: TextMutation): string {
  const at = m.at % (text.length + 1);
  switch (m.kind) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + 1 + (m.text.length % 5));
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'duplicate-line': {
      const lines = text.split('\n');
      const index = at % lines.length;
      return [...lines.slice(0, index + 1), lines[index], ...lines.slice(index + 1)].join('\n');
    }
    case 'swap-lines': {
      const lines = text.split('\n');
      const a = at % lines.length;
      const b = (at + m.text.length + 1) % lines.length;
      [lines[a], lines[b]] = [lines[b], lines[a]];
      return lines.join('\n');
    }
  }
}

test('project file property: any few edits of a valid file (insertions of YAML punctuation, deletions, moved lines) → no throw, positions valid', () => {
  const mutation = fc.record({
    kind: fc.constantFrom('delete' as const, 'insert' as const, 'duplicate-line' as const, 'swap-lines' as const),
    at: fc.nat(),
    text: fc.oneof(fc.constantFrom('\t', ' ', '  ', ':', '- ', '&a ', '*a', '<<: *a\n', '!!binary ', '{', '[', '"', "'", '\n', '#', '|', '>', '%', '@', '\0', '\uFEFF', '\r\n', '---\n'), fc.string({ maxLength: 6 })),
  });
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
      const text = mutations.reduce(applyTextMutation, VALID);
      const result = parseProjectText(text, 'slipway.yml');
      assertWellFormed(result, text, 'slipway.yml');
      assertPrototypeClean();
    }),
    fcOptions(300),
  );
});

test('project file property: a secret written anywhere (secret-named env value, URL password) never appears in a problem or warning', () => {
  const marker = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/).map((s) => `Zq${s}`);
  const placement = fc.constantFrom(
    (secret: string) => `services:\n  web:\n    command: node server.js\n    env: { DB_PASSWORD: ${secret}, API_TOKEN: x${secret} }\n`,
    (secret: string) => `services:\n  web:\n    command: "psql postgres://admin:${secret}@db/app"\n`,
    (secret: string) => `services:\n  web:\n    command: node server.js\n    port_env: "redis://:${secret}@cache"\n`,
    (secret: string) => `services:\n  web:\n    command: node server.js\n    health: { path: "http://u:${secret}@x/", interval: "ftp://u:${secret}@x" }\n`,
    (secret: string) => `services: {web: {command: x}}\nconfig:\n  SESSION_KEY: { secret: true, default: ${secret} }\n`,
    (secret: string) => `services: {web: {command: x}}\nmigrate: { command: "mysql://root:${secret}@db", timeout: "https://a:${secret}@b" }\n`,
    (secret: string) => `services: {web: {command: x}}\nupgrade: { from: "https://u:${secret}@example.com" }\n`,
  );
  const extra = fc.constantFrom('', 'environments: {production: {port: 8080}}\n', 'environments: {production: {port: x, host: 5}}\n', 'bogus: 1\n');
  fc.assert(
    fc.property(marker, placement, extra, (secret, place, tail) => {
      const text = `app: demo\n${place(secret)}${tail}`;
      const result = parseProjectText(text, 'slipway.yml');
      assertWellFormed(result, text, 'slipway.yml');
      assert.ok(result.problems.length > 0, 'a secret in the file is a problem');
      assert.ok(!JSON.stringify(result).includes(secret), `the secret ${secret} was echoed: ${allText(result)}`);
    }),
    fcOptions(200),
  );
});
