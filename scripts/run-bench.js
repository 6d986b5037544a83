#!/usr/bin/env node
// Runs every compiled bench script (dist/bench/*.js), or the ones named: node scripts/run-bench.js cli-start
import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const benchDir = path.join(root, 'dist', 'bench');
if (!existsSync(benchDir)) {
  console.error('dist/bench is missing: run `npm run build` first');
  process.exit(1);
}
const wanted = process.argv.slice(2);
const scripts = readdirSync(benchDir)
  .filter((f) => f.endsWith('.js'))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.js$/, '')))
  .sort();
let failed = 0;
for (const script of scripts) {
  console.log(`\n== bench/${script.replace(/\.js$/, '')}`);
  const result = spawnSync(process.execPath, [path.join(benchDir, script)], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
