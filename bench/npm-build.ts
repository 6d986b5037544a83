/**
 * slipway's own work in a build, against a real build command: `npm ci` of a real
 * dependency tree (bench/fixtures/npm-app: Next.js, MUI with its icons, the AWS S3
 * client, Jest, ESLint, TypeScript…; about 690 packages, 62,000 files, 350 MiB, links
 * in node_modules/.bin), from npm's cache, as a CI job with a warm cache runs it.
 *
 *   baseline  `npm ci --prefer-offline` alone in a clean clone of the same commit
 *   first     `slipway build` of v1 into an empty store: every content is hashed,
 *             packed and stored
 *   rebuild   `slipway build` of v2, a commit that changes one line of the app
 *
 * slipway's own work is the build's wall time less its build commands' time, as the
 * build itself prints it: the two are measured in the same run, so machine noise hits
 * both alike. The npm cache is kept between runs (NPM_BUILD_CACHE, default
 * <tmp>/slipway-bench-npm-cache): only the first run needs the registry.
 *
 *   node dist/bench/npm-build.js
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, runCli } from '../test/helpers/cli.js';
import { settle } from './settle.js';

const run = promisify(execFile);
const say = (line: string) => console.log(`npm-build: ${line}`);
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const FIXTURE = path.join(REPO_ROOT, 'bench', 'fixtures', 'npm-app');
const CACHE = process.env.NPM_BUILD_CACHE ?? path.join(os.tmpdir(), 'slipway-bench-npm-cache');
const NPM_CI = 'npm ci --prefer-offline --no-audit --no-fund';
const root = mkdtempSync(path.join(os.tmpdir(), 'slipway-bench-npm-'));
const npmEnv = { ...process.env, npm_config_cache: CACHE, npm_config_update_notifier: 'false' };

const SERVER = (version: string) => `'use strict';
const http = require('node:http');
http.createServer((req, res) => res.end(req.url === '/healthz' ? '{"ok":true}' : 'shop ${version}')).listen(Number(process.env.PORT), '127.0.0.1');
`;

const YML = `app: shop
services:
  web:
    command: node server.js
    port_env: PORT
    health: { path: /healthz, interval: 200ms, timeout: 2s, successes: 2, deadline: 60s }
build:
  commands: [${JSON.stringify(NPM_CI)}]
environments:
  production:
    host: local
    port: 18999
`;

async function git(cwd: string, ...args: string[]): Promise<void> {
  await run('git', ['-c', 'user.email=bench@example.com', '-c', 'user.name=bench', ...args], { cwd });
}

/** Runs `command` in `cwd` through sh; answers its wall time. Flushes the disk first, so that earlier phases' writes do not land on this one. */
async function timed(command: string, cwd: string): Promise<number> {
  await settle();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env: npmEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${stderr.split('\n').slice(-4).join(' | ')}`))));
  });
  return performance.now() - t0;
}

/** A clean clone of the repo at `ref`, as the build's export is. */
async function cloneAt(repo: string, ref: string, into: string): Promise<string> {
  await run('git', ['clone', '-q', '--branch', ref, repo, into]);
  rmSync(path.join(into, '.git'), { recursive: true, force: true });
  return into;
}

interface Built {
  ms: number;
  /** how long the export took to go in the background, after the command returned */
  removedAfterMs: number;
  commandsMs: number;
  hashing: string;
  packing: string;
  files: string;
}

async function build(home: string, repo: string, ref: string): Promise<Built> {
  await settle();
  const t0 = performance.now();
  const result = await runCli(['build', '--ref', ref], { cwd: repo, home, timeoutMs: 15 * 60_000, env: { npm_config_cache: CACHE, npm_config_update_notifier: 'false' } });
  const ms = performance.now() - t0;
  if (result.code !== 0) throw new Error(`slipway build --ref ${ref} exited ${result.code}: ${result.stderr.split('\n').slice(-6).join(' | ')}`);
  const output = `${result.stdout}\n${result.stderr}`;
  const commands = /build commands ([\d.]+) s/.exec(output);
  if (!commands) throw new Error(`slipway build printed no timings: ${output.slice(0, 300)}`);
  return {
    ms,
    removedAfterMs: await settle(),
    commandsMs: Number(commands[1]) * 1000,
    hashing: /hashing: ([^\n]+)/.exec(output)?.[1] ?? '?',
    packing: /packing new contents: ([^\n]+)/.exec(output)?.[1] ?? 'nothing new',
    files: /files +([^\n]+)/.exec(output)?.[1] ?? '?',
  };
}

function ownWork(label: string, built: Built): void {
  const own = built.ms - built.commandsMs;
  say(`${label}: slipway build ${sec(built.ms)}, of which its build command ${sec(built.commandsMs)}: slipway's own work ${sec(own)} = +${((own / built.commandsMs) * 100).toFixed(0)}% (hashing ${built.hashing}; packing ${built.packing}); the export then went in the background in ${sec(built.removedAfterMs)}`);
}

try {
  const repo = path.join(root, 'repo');
  mkdirSync(repo);
  cpSync(FIXTURE, repo, { recursive: true });
  writeFileSync(path.join(repo, 'server.js'), SERVER('v1'));
  writeFileSync(path.join(repo, 'slipway.yml'), YML);
  await git(repo, 'init', '-q', '-b', 'main');
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-q', '-m', 'v1');
  await git(repo, 'tag', 'v1');
  writeFileSync(path.join(repo, 'server.js'), SERVER('v2'));
  await git(repo, 'commit', '-q', '-am', 'v2: one line');
  await git(repo, 'tag', 'v2');

  // The cache, filled once (from the registry when it is empty), not measured.
  const warm = await cloneAt(repo, 'v1', path.join(root, 'warm'));
  try {
    await timed(NPM_CI, warm);
  } catch (error) {
    say(`skipped: npm ci could not fill its cache (${(error as Error).message.slice(0, 200)}); the registry must be reachable once`);
    process.exit(0);
  }
  rmSync(warm, { recursive: true, force: true });

  const baselines: number[] = [];
  for (let i = 0; i < 2; i++) {
    const plain = await cloneAt(repo, 'v1', path.join(root, `plain-${i}`));
    baselines.push(await timed(NPM_CI, plain));
    rmSync(plain, { recursive: true, force: true });
  }
  say(`baseline: ${NPM_CI} alone in a clean clone: ${baselines.map(sec).join(', ')}`);

  const home = path.join(root, 'home');
  const first = await build(home, repo, 'v1');
  say(`release: ${first.files}`);
  ownWork('first build (empty store)', first);
  const rebuild = await build(home, repo, 'v2');
  ownWork('rebuild of a one-line change', rebuild);
} catch (error) {
  say(`FAILED: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  rmSync(root, { recursive: true, force: true });
}
