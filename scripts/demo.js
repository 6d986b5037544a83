#!/usr/bin/env node
// The main job on the embedded default: the example app's releases built into a
// local store and listed. Everything lives under .demo/ (or $SLIPWAY_HOME if set).
import { existsSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createNotesFixtureRepo } from '../examples/make-fixture-repo.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = path.join(root, '.demo');
const home = process.env.SLIPWAY_HOME ?? path.join(demoDir, 'slipway-home');
const appDir = path.join(demoDir, 'notes-app');
const port = Number(process.env.DEMO_PORT ?? 8080);

// A previous demo's agent still serves from .demo/: stop it before its folders go.
if (existsSync(path.join(appDir, 'slipway.yml'))) {
  spawnSync(process.execPath, [path.join(root, 'bin', 'slipway.js'), 'agent', '--stop', '--env', 'production'], {
    cwd: appDir,
    env: { ...process.env, SLIPWAY_HOME: home },
    stdio: 'ignore',
  });
}
rmSync(appDir, { recursive: true, force: true });
if (!process.env.SLIPWAY_HOME) rmSync(home, { recursive: true, force: true });
mkdirSync(demoDir, { recursive: true });
await createNotesFixtureRepo(appDir, { port });
console.log(`example app: ${appDir} (git tags v1, v2, v3)\nSLIPWAY_HOME=${home}\n`);

function slipway(...args) {
  return run({ expectFailure: false }, ...args);
}

function run({ expectFailure }, ...args) {
  console.log(`$ slipway ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [path.join(root, 'bin', 'slipway.js'), ...args], {
    cwd: appDir,
    env: { ...process.env, SLIPWAY_HOME: home },
    stdio: 'inherit',
  });
  console.log('');
  if (expectFailure) {
    if (result.status === 0) {
      console.error(`demo stopped: slipway ${args.join(' ')} was expected to fail`);
      process.exit(1);
    }
    return;
  }
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
slipway('deploy', 'production', '--version', 'v1', '--yes');
slipway('deploy', 'production', '--version', 'v2', '--yes');
console.log('# v3 never becomes healthy: the deploy must fail and leave v2 serving');
run({ expectFailure: true }, 'deploy', 'production', '--version', 'v3', '--yes');
slipway('status', 'production');
slipway('history', 'production');
console.log(`The example app is served at http://127.0.0.1:${port} by a background agent.`);
console.log(`Try it: curl http://127.0.0.1:${port}/version`);
console.log(`Stop it: (cd ${path.relative(process.cwd(), appDir) || '.'} && SLIPWAY_HOME=${home} node ${path.join(root, 'bin', 'slipway.js')} agent --stop)`);
