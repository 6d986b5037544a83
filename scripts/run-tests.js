#!/usr/bin/env node
// Runs every compiled test file with Node's built-in test runner.
// Usage: node scripts/run-tests.js [filter-substring...]
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const testRoot = path.join(root, 'dist', 'test');

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) found.push(...findTests(full));
    else if (name.endsWith('.test.js')) found.push(full);
  }
  return found;
}

// The CLI the tests run is the bundle (bin/slipway.js): made from what tsc just compiled, so a
// run after a bare `tsc` never tests yesterday's CLI.
const bundled = spawnSync(process.execPath, [path.join(root, 'scripts', 'bundle-cli.js')], { stdio: 'inherit' });
if (bundled.status !== 0) process.exit(bundled.status ?? 1);

const filters = process.argv.slice(2);
// (node --test runs the files in the order of their paths, whatever order they are given in.)
const files = findTests(testRoot).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/test (did tsc run?)');
  process.exit(1);
}
// The usual report on stdout; beside it, each file's time, to name the slowest ones at the end.
const timesFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'slipway-test-times-')), 'times.jsonl');
// (TAP when stdout is not a terminal, as node --test does by default, so CI reads what it always read.)
const reporters = [`--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`, '--test-reporter-destination=stdout', `--test-reporter=${path.join(root, 'scripts', 'file-times-reporter.js')}`, `--test-reporter-destination=${timesFile}`];
const started = Date.now();
// One test file more than there are cores: the tests wait on real servers (health windows, SSH
// keep-alives, schedules) about a fifth of their time, which a third file fills on two cores.
// At most 4: the container and SSH tests share one engine and the machine's namespaces.
const concurrency = Number(process.env.SLIPWAY_TEST_CONCURRENCY) || Math.min(4, os.availableParallelism() + 1);
// What test files may share within one run (a bundle of slipway made once), removed with the run.
const runDir = mkdtempSync(path.join(os.tmpdir(), 'slipway-test-run-'));
// Without NODE_EXTRA_CA_CERTS: with it every Node start reads and parses the bundle it names
// before anything else (about 60 ms each where it names the system's 140 certificates), and the
// suite starts thousands. The tests reach only servers on loopback; those on TLS (the ACME
// server, the HTTPS proxy) give their own CA to the processes that talk to them.
const { NODE_EXTRA_CA_CERTS: _extraCerts, ...testEnv } = process.env;
const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...reporters, ...files], { stdio: 'inherit', env: { ...testEnv, SLIPWAY_TEST_RUN_DIR: runDir } });
rmSync(runDir, { recursive: true, force: true });
try {
  const lines = readFileSync(timesFile, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const times = lines.filter((l) => l.file !== undefined).sort((a, b) => b.ms - a.ms);
  const counts = lines.find((l) => l.counts !== undefined)?.counts;
  if (files.length > 1 && times.length > 0) {
    console.log(`\nslowest test files (of ${times.length}, ${((Date.now() - started) / 60_000).toFixed(1)} min in all):`);
    for (const { file, ms } of times.slice(0, 12)) console.log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${path.relative(testRoot, file)}`);
  }
  // Every file's time, for whoever trims the suite: SLIPWAY_TEST_TIMES=<file>.
  if (process.env.SLIPWAY_TEST_TIMES) writeFileSync(process.env.SLIPWAY_TEST_TIMES, times.map(({ file, ms }) => `${(ms / 1000).toFixed(1)}\t${path.relative(testRoot, file)}`).join('\n') + '\n');
  if (counts) console.log(`${counts.passed} passed, ${counts.failed} failed`);
} catch {
  // the times are a help, never a reason to fail
} finally {
  rmSync(path.dirname(timesFile), { recursive: true, force: true });
}
process.exit(result.status ?? 1);
