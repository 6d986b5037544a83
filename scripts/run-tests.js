#!/usr/bin/env node
// Runs every compiled test file with Node's built-in test runner.
// Usage: node scripts/run-tests.js [filter-substring...]
import { readdirSync, statSync } from 'node:fs';
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

const filters = process.argv.slice(2);
const files = findTests(testRoot).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/test (did tsc run?)');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
