#!/usr/bin/env node
// Runs every compiled bench script (dist/bench/*.js), or the ones named
// (node scripts/run-bench.js cli-start backup), prints their output as it comes,
// and writes docs/benchmarks.md with each figure and the machine it ran on.
// Modules the benches import (not benches themselves) are listed in HELPERS.
import { readdirSync, existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const benchDir = path.join(root, 'dist', 'bench');
if (!existsSync(benchDir)) {
  console.error('dist/bench is missing: run `npm run build` first');
  process.exit(1);
}
const HELPERS = new Set(['big-tree', 'poll-version', 'container-stack', 'settle']);
const wanted = process.argv.slice(2);
const scripts = readdirSync(benchDir)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.replace(/\.js$/, ''))
  .filter((name) => !HELPERS.has(name))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();

function runOne(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [path.join(benchDir, `${name}.js`)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code) => resolve({ name, code, output: output.trimEnd(), seconds: (Date.now() - started) / 1000 }));
  });
}

const results = [];
for (const name of scripts) {
  console.log(`\n== bench/${name}`);
  results.push(await runOne(name));
}

const cpus = os.cpus();
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const machine = `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
const docPath = path.join(root, 'docs', 'benchmarks.md');
// Benches run one by one; a partial run keeps the other sections of the previous file.
const previous = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
const sections = new Map();
for (const match of previous.matchAll(/^## bench\/([\w-]+)\n([\s\S]*?)(?=^## bench\/|(?![\s\S]))/gm)) sections.set(match[1], match[2].trim());
for (const r of results) {
  sections.set(
    r.name,
    [`Run ${new Date().toISOString().slice(0, 10)}, ${r.seconds.toFixed(0)} s${r.code === 0 ? '' : `, FAILED (exit ${r.code})`}.`, '', '```', r.output || '(no output)', '```'].join('\n'),
  );
}
const doc = [
  '# slipway benchmarks',
  '',
  `Written by \`npm run bench\` (slipway ${pkg.version}). Every figure is printed beside a baseline measured in the same run on the same machine, as a ratio.`,
  '',
  `Machine of the latest run: ${machine}.`,
  '',
  ...[...sections.keys()].sort().flatMap((name) => [`## bench/${name}`, '', sections.get(name), '']),
].join('\n');
mkdirSync(path.dirname(docPath), { recursive: true });
writeFileSync(docPath, doc);
console.log(`\nwrote ${path.relative(process.cwd(), docPath)}`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
