import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { REPO_ROOT, describeRun, makeSandbox, type CliResult } from '../helpers/cli.js';

/** Every command and subcommand of the real program, as argument paths: ['release', 'show'], … */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const sub of command.commands) {
    const here = [...prefix, sub.name()];
    out.push(here, ...commandPaths(sub, here));
  }
  return out;
}

/** Runs jobs with at most `limit` at a time (the machine has 2 cores). */
async function mapLimit<T, R>(items: T[], limit: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await job(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

test('--version prints the package version and exits 0', async (t) => {
  const sandbox = makeSandbox(t);
  const { version } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const result = await sandbox.run(['--version']);
  assert.equal(result.code, 0, describeRun(result));
  assert.equal(result.stdout.trim(), version);
});

test('--help lists every top-level command and exits 0', async (t) => {
  const sandbox = makeSandbox(t);
  const result = await sandbox.run(['--help']);
  assert.equal(result.code, 0, describeRun(result));
  assert.match(result.stdout, /^Usage: slipway /);
  for (const command of buildProgram().commands) {
    assert.match(result.stdout, new RegExp(`^  ${command.name()}\\b`, 'm'), `--help does not list ${command.name()}`);
  }
});

test('`<cmd> --help` and `help <cmd>` exit 0 for every command and subcommand', async (t) => {
  const sandbox = makeSandbox(t);
  const paths = commandPaths(buildProgram());
  // The contract's commands must be there (a renamed or dropped one would silently shrink this test).
  for (const required of ['init', 'build', 'releases', 'release show', 'keys generate', 'deploy', 'rollback', 'status', 'history', 'verify', 'agent']) {
    assert.ok(paths.some((p) => p.join(' ') === required), `no command "${required}" in buildProgram()`);
  }
  const results = await mapLimit(paths, 3, async (argv): Promise<[string[], CliResult]> => [argv, await sandbox.run([...argv, '--help'])]);
  for (const [argv, result] of results) {
    assert.equal(result.code, 0, `slipway ${argv.join(' ')} --help: ${describeRun(result)}`);
    assert.match(result.stdout, new RegExp(`^Usage: slipway ${argv.join(' ')}\\b`), `slipway ${argv.join(' ')} --help printed: ${result.stdout}`);
  }
  // `help <cmd>` is commander's spelling of the same thing.
  const viaHelp = await sandbox.run(['help', 'build']);
  assert.equal(viaHelp.code, 0, describeRun(viaHelp));
  assert.match(viaHelp.stdout, /^Usage: slipway build\b/);
  // --help does nothing but print: the sandbox's home stays empty.
  assert.deepEqual(fs.readdirSync(sandbox.home), []);
});

test('usage errors exit 2 and say what was wrong', async (t) => {
  const sandbox = makeSandbox(t);
  const cases: Array<{ argv: string[]; stderr: RegExp }> = [
    { argv: ['deploi'], stderr: /unknown command 'deploi'[\s\S]*deploy/ },
    { argv: ['deploy'], stderr: /missing required argument 'env'/ },
    { argv: ['release', 'show'], stderr: /missing required argument 'version-or-id'/ },
    { argv: ['release', 'shwo'], stderr: /unknown command 'shwo'/ },
    { argv: ['build', '--bogus'], stderr: /unknown option '--bogus'/ },
    { argv: ['build', '--ref'], stderr: /option '--ref <git-ref>' argument missing/ },
    { argv: ['status', 'production', 'extra'], stderr: /too many arguments/ },
    // a command group or the bare program without a subcommand: help on stderr, as an error
    { argv: ['release'], stderr: /Usage: slipway release/ },
    { argv: [], stderr: /Usage: slipway/ },
  ];
  const results = await mapLimit(cases, 3, (c) => sandbox.run(c.argv));
  cases.forEach((c, i) => {
    const result = results[i]!;
    assert.equal(result.code, 2, `slipway ${c.argv.join(' ')}: ${describeRun(result)}`);
    assert.match(result.stderr, c.stderr, `slipway ${c.argv.join(' ')}: ${describeRun(result)}`);
    assert.equal(result.stdout, '', `slipway ${c.argv.join(' ')} printed to stdout: ${result.stdout}`);
  });
});
