/**
 * `slipway build` refusing bad input: each refusal has its exit code, a message that
 * says what is wrong, and leaves nothing behind (no release in the store, no temp files).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { commitAll, createNotesRepo, describeRun, git, listTree, makeSandbox, parseJsonOutput, type CliResult, type Sandbox } from '../helpers/cli.js';

interface Setup {
  sandbox: Sandbox;
  repo: string;
  /** the repo's slipway.yml as committed */
  projectText: string;
  run(args: string[]): Promise<CliResult>;
}

async function setup(t: TestContext): Promise<Setup> {
  const sandbox = makeSandbox(t);
  const repo = await createNotesRepo(path.join(sandbox.root, 'repo'));
  return {
    sandbox,
    repo,
    projectText: fs.readFileSync(path.join(repo, 'slipway.yml'), 'utf8'),
    run: (args) => sandbox.run(args, { cwd: repo }),
  };
}

/** Runs a command that must be refused and checks that it changed nothing in SLIPWAY_HOME and left no temp files. */
async function refused(s: Setup, args: string[], exitCode: 1 | 2): Promise<CliResult> {
  const homeBefore = listTree(s.sandbox.home);
  const result = await s.run(args);
  assert.equal(result.code, exitCode, describeRun(result));
  assert.equal(result.stdout, '', `a refused build printed to stdout: ${result.stdout}`);
  assert.doesNotMatch(result.stderr, /internal error/, describeRun(result));
  assert.deepEqual(listTree(s.sandbox.home), homeBefore, 'SLIPWAY_HOME changed');
  assert.deepEqual(listTree(s.sandbox.tmp), [], 'temp files left behind');
  return result;
}

/** 1-based line and column of the first occurrence of `needle` in `text`. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const offset = text.indexOf(needle);
  assert.ok(offset >= 0, `${needle} not in the text`);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

test('a malformed slipway.yml: exit 2 with slipway.yml:<line>:<col> of the problem', async (t) => {
  const s = await setup(t);
  const broken = s.projectText.replace('port_env: PORT', 'port_env: "PORT');
  assert.notEqual(broken, s.projectText);
  fs.writeFileSync(path.join(s.repo, 'slipway.yml'), broken);
  // the line of the open quote; the column is where yaml noticed (the end of that line)
  const { line } = positionOf(broken, '"PORT');
  const result = await refused(s, ['build', '--ref', 'v1'], 2);
  assert.match(result.stderr, new RegExp(`slipway\\.yml:${line}:\\d+: YAML syntax error`));
  assert.match(result.stderr, /hint: fix it in slipway\.yml/);
});

test('an unknown key: exit 2, its position and "did you mean"', async (t) => {
  const s = await setup(t);
  const misspelt = s.projectText.replace(/^build:/m, 'biuld:');
  fs.writeFileSync(path.join(s.repo, 'slipway.yml'), misspelt);
  const { line } = positionOf(misspelt, 'biuld:');
  const result = await refused(s, ['build', '--ref', 'v1'], 2);
  assert.match(result.stderr, new RegExp(`slipway\\.yml:${line}:1: .*unknown key \`biuld\`; did you mean \`build\`\\?`));
});

test('a slipway.yml broken in the commit being built: exit 2 naming <ref>:slipway.yml:<line>:<col>', async (t) => {
  const s = await setup(t);
  const file = path.join(s.repo, 'slipway.yml');
  const invalid = s.projectText.replace('successes: 2', 'successes: two');
  fs.writeFileSync(file, invalid);
  commitAll(s.repo, 'a broken project file');
  git(s.repo, 'tag', 'broken');
  fs.writeFileSync(file, s.projectText);
  commitAll(s.repo, 'fixed again');
  const { line, column } = positionOf(invalid, 'two');
  const result = await refused(s, ['build', '--ref', 'broken'], 2);
  assert.match(result.stderr, new RegExp(`broken:slipway\\.yml:${line}:${column}: services\\.web\\.health\\.successes`));
});

test('a ref that does not exist: exit 2, naming it', async (t) => {
  const s = await setup(t);
  const result = await refused(s, ['build', '--ref', 'v404'], 2);
  assert.match(result.stderr, /"v404" does not name a commit/);
});

test('a dirty work tree: exit 2 without --allow-dirty; with it the version ends in -dirty; a named ref ignores the edits', async (t) => {
  const s = await setup(t);
  fs.appendFileSync(path.join(s.repo, 'server.js'), '\n// an uncommitted edit\n');

  const result = await refused(s, ['build'], 2);
  assert.match(result.stderr, /uncommitted changes/);
  assert.match(result.stderr, /--allow-dirty/);

  const dirty = await s.run(['build', '--allow-dirty', '--json']);
  assert.equal(dirty.code, 0, describeRun(dirty));
  const built = parseJsonOutput<{ id: string; version: string; commit: string }>(dirty);
  assert.equal(built.version, 'v3-dirty');
  assert.equal(built.commit, git(s.repo, 'rev-parse', 'HEAD').trim());
  const shown = parseJsonOutput<{ manifest: { dirty: boolean } }>(await s.run(['release', 'show', 'v3-dirty', '--json']));
  assert.equal(shown.manifest.dirty, true);

  // a named ref is exported from git as committed: the edit cannot leak in
  const named = await s.run(['build', '--ref', 'v2', '--json']);
  assert.equal(named.code, 0, describeRun(named));
  assert.equal(parseJsonOutput<{ version: string }>(named).version, 'v2');
  assert.deepEqual(listTree(s.sandbox.tmp), [], 'temp files left behind');
});

test('a failing build command: exit 1, its output shown, nothing in the store', async (t) => {
  const s = await setup(t);
  const failing = s.projectText.replace('commands: []', 'commands: ["echo boom-line && exit 3"]');
  assert.notEqual(failing, s.projectText);
  fs.writeFileSync(path.join(s.repo, 'slipway.yml'), failing);
  commitAll(s.repo, 'a build that fails');
  const result = await refused(s, ['build', '--json'], 1);
  assert.match(result.stderr, /boom-line/);
  assert.match(result.stderr, /exited with code 3/);
  assert.match(result.stderr, /hint: /);
  assert.deepEqual(parseJsonOutput(await s.run(['releases', '--json'])), []);
});

test('(contrast) a build command that succeeds: its output goes to stderr, stdout stays the JSON', async (t) => {
  const s = await setup(t);
  const loud = s.projectText.replace('commands: []', 'commands: ["echo built-$SLIPWAY_VERSION-at-$SLIPWAY_COMMIT", "echo to-stderr >&2"]');
  fs.writeFileSync(path.join(s.repo, 'slipway.yml'), loud);
  const commit = commitAll(s.repo, 'a build that talks');
  git(s.repo, 'tag', 'v4');
  const result = await s.run(['build', '--json']);
  assert.equal(result.code, 0, describeRun(result));
  assert.deepEqual(parseJsonOutput<{ version: string; commit: string }>(result), { ...parseJsonOutput<object>(result), version: 'v4', commit });
  assert.match(result.stderr, new RegExp(`built-v4-at-${commit}`));
  assert.match(result.stderr, /to-stderr/);
  assert.deepEqual(listTree(s.sandbox.tmp), [], 'temp files left behind');
});
