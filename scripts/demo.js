#!/usr/bin/env node
// The main job on the embedded default: the example app's releases built into a
// local store and listed. Everything lives under .demo/ (or $SLIPWAY_HOME if set).
import { rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNotesFixtureRepo } from '../examples/make-fixture-repo.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = path.join(root, '.demo');
const home = process.env.SLIPWAY_HOME ?? path.join(demoDir, 'slipway-home');
const appDir = path.join(demoDir, 'notes-app');
const port = Number(process.env.DEMO_PORT ?? 8080);

rmSync(appDir, { recursive: true, force: true });
if (!process.env.SLIPWAY_HOME) rmSync(home, { recursive: true, force: true });
mkdirSync(demoDir, { recursive: true });
await createNotesFixtureRepo(appDir, { port });
console.log(`example app: ${appDir} (git tags v1, v2, v3)\nSLIPWAY_HOME=${home}\n`);

function slipway(...args) {
  console.log(`$ slipway ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [path.join(root, 'bin', 'slipway.js'), ...args], {
    cwd: appDir,
    env: { ...process.env, SLIPWAY_HOME: home },
    stdio: 'inherit',
  });
  console.log('');
  if (result.status !== 0) {
    console.error(`demo stopped: slipway ${args.join(' ')} exited ${result.status}`);
    process.exit(result.status ?? 1);
  }
}

slipway('build', '--ref', 'v1');
slipway('build', '--ref', 'v2');
slipway('build', '--ref', 'v3');
slipway('releases');
slipway('release', 'show', 'v2');
