#!/usr/bin/env node
// Bundles the compiled CLI (dist/src) into a few ES modules under dist/bundle/cli, which
// bin/slipway.js loads. Why: Node resolves and evaluates ~150 small modules of ours plus
// zod's, yaml's and commander's at every start; one bundle takes a third less CPU per
// command, which is most of what a short command (status, rollback) costs.
//
// The bundle sits at the same depth as dist/src/cli, so paths written relative to a
// module (`new URL('../../../package.json', import.meta.url)`) still reach the
// installation's root. The worker scripts are entry points of their own next to it, so
// `new URL('./install-worker.js', import.meta.url)` finds them. Native addons and the
// big, lazily loaded SDKs stay in node_modules.
//
// Written to a temporary folder, then moved in file by file, chunks before the entry
// points that import them, each by a rename: a CLI starting meanwhile loads either the
// old bundle or the new one. Chunks are named by their content and the old ones are kept
// for a day, so an agent started from the old bundle can still load the commands it
// imports lazily.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'src');
const outDir = path.join(root, 'dist', 'bundle', 'cli');

if (!existsSync(path.join(compiled, 'cli', 'main.js'))) {
  console.error(`${path.join(compiled, 'cli', 'main.js')} is missing: run \`tsc -p tsconfig.json\` first (npm run build does both)`);
  process.exit(1);
}

const entryPoints = {
  main: path.join(compiled, 'cli', 'main.js'),
  'rollback-fast': path.join(compiled, 'cli', 'rollback-fast.js'),
  'install-worker': path.join(compiled, 'host', 'install-worker.js'),
  'file-worker': path.join(compiled, 'release', 'file-worker.js'),
  'sqlite-worker': path.join(compiled, 'data', 'engines', 'sqlite-worker.js'),
};

const temp = `${outDir}.${process.pid}.tmp`;
rmSync(temp, { recursive: true, force: true });
await build({
  entryPoints,
  outdir: temp,
  bundle: true,
  // Shared code goes to chunks that every entry imports.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  // A native addon, and SDKs loaded only by the commands that need them.
  external: ['better-sqlite3', '@aws-sdk/*', 'dockerode', 'acme-client', 'undici'],
  // CommonJS packages bundled into ES modules call require() for Node's own modules.
  banner: { js: "import { createRequire as __slipwayCreateRequire } from 'node:module'; const require = __slipwayCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
// bin/slipway.js's early rollback, whole in one file: loading one module instead of an entry and
// its shared chunks is a few milliseconds of a warm rollback's 150. It hands what it sent to the
// CLI's own copy of the module through globalThis (src/cli/rollback-fast.ts).
await build({
  entryPoints: { 'rollback-early': path.join(compiled, 'cli', 'rollback-fast.js') },
  outdir: temp,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
});
mkdirSync(outDir, { recursive: true });
const written = readdirSync(temp);
const isChunk = (name) => name.startsWith('chunk-');
for (const name of [...written.filter(isChunk), ...written.filter((n) => !isChunk(n))]) {
  if (isChunk(name) && existsSync(path.join(outDir, name))) continue; // same name, same content
  renameSync(path.join(temp, name), path.join(outDir, name));
}
rmSync(temp, { recursive: true, force: true });
const kept = new Set(written);
const dayAgo = Date.now() - 24 * 3600_000;
for (const name of readdirSync(outDir)) {
  if (isChunk(name) && !kept.has(name) && statSync(path.join(outDir, name)).mtimeMs < dayAgo) rmSync(path.join(outDir, name), { force: true });
}
