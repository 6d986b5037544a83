#!/usr/bin/env node
// Makes a git repository of the deps-app example with two tagged commits, v1 and v2,
// each with a slipway.yml. Its build runs `npm ci --offline` against the dependencies
// vendored in the repo as tarballs (vendor/*.tgz, pinned by package-lock.json), so no
// network is needed; the installed tree has a hoisted dependency (greeting → textcase 1),
// a nested one (banner bundles textcase 2) and a link, node_modules/.bin/greet.
//
//   node examples/deps-app/make-repo.js <dest> [--port N] [--node-path DIR]
//
// v1 is base/; v2 is base/ plus the v2/ overlay: server.js changed and migration 002 added.
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);

const APP_DIR = path.dirname(fileURLToPath(import.meta.url));
// Where the app finds better-sqlite3 (native, so not vendored): this repository's node_modules.
const DEFAULT_NODE_PATH = path.resolve(APP_DIR, '..', '..', 'node_modules');
const GIT_LOCATION_VARS = new Set(['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_COMMON_DIR']);

const VERSIONS = [
  { tag: 'v1', overlays: [], message: 'deps-app v1: greetings, with vendored dependencies installed by npm ci' },
  { tag: 'v2', overlays: ['v2'], message: 'deps-app v2: greetings record their command line (migration 002)' },
];

/**
 * @param {{ port: number, nodePath: string, healthWindow?: string }} o
 * @returns {string}
 */
export function renderSlipwayYml({ port, nodePath, healthWindow = '1s' }) {
  const np = /^[A-Za-z0-9_./-]+$/.test(nodePath) ? nodePath : JSON.stringify(nodePath);
  return `# slipway project file for the deps-app example
app: deps-app
services:
  web:
    command: node server.js
    port_env: PORT
    env:
      NODE_PATH: ${np}
    health: { path: /healthz, interval: 200ms, timeout: 2s, successes: 2, deadline: 20s }
build:
  # the dependencies come from vendor/*.tgz, as package-lock.json pins them: no network
  commands: ["npm ci --offline --no-audit --no-fund"]
data:
  databases:
    main: { engine: sqlite, path: data/app.db }
migrate:
  command: node migrate.js
config:
  NODE_PATH:
    default: ${np}
    description: a node_modules folder on the host with better-sqlite3 (native, so not vendored)
environments:
  production:
    host: local
    port: ${port}
    health_window: ${healthWindow}
    drain_timeout: 2s
`;
}

/**
 * Creates the repository at `dest` (absent or empty).
 * @param {string} dest
 * @param {{ port?: number, nodePath?: string, healthWindow?: string }} [options]
 * @returns {Promise<{ dir: string, tags: string[] }>}
 */
export async function createDepsAppRepo(dest, options = {}) {
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1-65535, got ${port}`);
  const dir = path.resolve(dest);
  const existing = await readdir(dir).catch((err) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (existing.length > 0) throw new Error(`${dir} is not empty; give a new or empty folder`);
  await mkdir(dir, { recursive: true });

  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !GIT_LOCATION_VARS.has(name)));
  const git = (/** @type {string[]} */ args, /** @type {Record<string, string>} */ env = {}) => run('git', args, { cwd: dir, env: { ...baseEnv, ...env } });
  await git(['init', '-q', '-b', 'main']);
  for (const [key, value] of [
    ['user.name', 'Deps App Fixture'],
    ['user.email', 'deps-app-fixture@example.invalid'],
    ['commit.gpgsign', 'false'],
    ['tag.gpgsign', 'false'],
    ['core.autocrlf', 'false'],
  ]) {
    await git(['config', key, value]);
  }

  const yml = renderSlipwayYml({ port, nodePath: path.resolve(options.nodePath ?? DEFAULT_NODE_PATH), healthWindow: options.healthWindow });
  for (const [index, version] of VERSIONS.entries()) {
    for (const name of await readdir(dir)) if (name !== '.git') await rm(path.join(dir, name), { recursive: true, force: true });
    for (const folder of ['base', ...version.overlays]) await cp(path.join(APP_DIR, folder), dir, { recursive: true });
    await writeFile(path.join(dir, 'slipway.yml'), yml);
    await git(['add', '-A']);
    const date = `2025-02-0${index + 1}T12:00:00Z`;
    await git(['commit', '-q', '-m', version.message], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
    await git(['tag', '-a', version.tag, '-m', `deps-app ${version.tag}`], { GIT_COMMITTER_DATE: date });
  }
  return { dir, tags: VERSIONS.map((v) => v.tag) };
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { port: { type: 'string' }, 'node-path': { type: 'string' } } });
  if (positionals.length !== 1) {
    console.error('usage: node examples/deps-app/make-repo.js <dest> [--port N] [--node-path DIR]');
    process.exit(2);
  }
  createDepsAppRepo(positionals[0], { port: values.port === undefined ? undefined : Number(values.port), nodePath: values['node-path'] }).then(
    ({ dir, tags }) => console.log(`created ${dir} with tags ${tags.join(', ')}`),
    (err) => {
      console.error(`make-repo: ${err.message}`);
      process.exitCode = err instanceof RangeError ? 2 : 1;
    },
  );
}
