/**
 * How much slower `slipway --help` starts than a bare `node -e 0`, measured in the same run.
 * Prints the median wall time of each and their ratio.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'bin', 'slipway.js');
const runs = Number(process.env.BENCH_RUNS ?? 15);

function timeOnce(args: string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// Interleave the two so that machine noise hits both alike; one warm-up each.
timeOnce(['-e', '0']);
timeOnce([cli, '--help']);
const baseline: number[] = [];
const slipway: number[] = [];
for (let i = 0; i < runs; i += 1) {
  baseline.push(timeOnce(['-e', '0']));
  slipway.push(timeOnce([cli, '--help']));
}
const base = median(baseline);
const ours = median(slipway);
console.log(`cli-start: node -e 0 median ${base.toFixed(1)} ms, slipway --help median ${ours.toFixed(1)} ms over ${runs} runs`);
console.log(`cli-start: ratio ${(ours / base).toFixed(2)}x (slipway --help / node -e 0)`);
