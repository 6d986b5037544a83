#!/usr/bin/env node
// Makes a git repository of the notes example app with three tagged commits,
// v1, v2 and v3, each with a slipway.yml — the app slipway deploys in its demo
// and tests.
//
//   node examples/make-fixture-repo.js <dest> [--port N] [--node-path DIR]
//        [--health-window 1s] [--drain-timeout 2s] [--health-deadline 20s] [--keep-releases N]
//
// Version N's tree is notes-app/base plus the overlays v2 … vN (see
// notes-app/README.md).
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);

const EXAMPLES_DIR = path.dirname(fileURLToPath(import.meta.url));
const APP_DIR = path.join(EXAMPLES_DIR, 'notes-app');
const DEFAULT_PORT = 8080;
// Where the app finds better-sqlite3 and pg: this repository's own node_modules.
const DEFAULT_NODE_PATH = path.resolve(EXAMPLES_DIR, '..', 'node_modules');

const GIT_LOCATION_VARS = new Set(['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_COMMON_DIR']);

/** The releases, oldest first: tag, overlay folders applied on top of base/, commit message. */
const VERSIONS = [
  { tag: 'v1', overlays: [], message: 'notes v1: notes and uploads' },
  { tag: 'v2', overlays: ['v2'], message: 'notes v2: word counts (migration 2 adds notes.words)' },
  { tag: 'v3', overlays: ['v2', 'v3'], message: 'notes v3: search index health check (its health check fails)' },
];

/**
 * @typedef {object} FixtureOptions
 * @property {number} [port] public port of the production environment (default 8080)
 * @property {string} [nodePath] node_modules folder that has better-sqlite3 (default: this repository's)
 * @property {string} [healthWindow] environments.production.health_window, e.g. '1s' (slipway's default: 10s)
 * @property {string} [drainTimeout] environments.production.drain_timeout, e.g. '2s' (slipway's default: 10s)
 * @property {number} [keepReleases] environments.production.retention.releases (slipway's default: 5)
 * @property {string} [healthDeadline] services.web.health.deadline: how long a new release may take to become healthy (default 20s)
 */

/**
 * Creates the fixture repository at `dest`, which must not exist or be empty.
 * @param {string} dest
 * @param {FixtureOptions} [options]
 * @returns {Promise<{ dir: string, tags: string[] }>}
 */
export async function createNotesFixtureRepo(dest, options = {}) {
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1-65535, got ${port}`);
  const nodePath = path.resolve(options.nodePath ?? DEFAULT_NODE_PATH);
  for (const [name, value] of [['healthWindow', options.healthWindow], ['drainTimeout', options.drainTimeout], ['healthDeadline', options.healthDeadline]]) {
    if (value !== undefined && !/^\d+(ms|s|m)$/.test(value)) throw new RangeError(`${name} must be a duration like 500ms, 1s or 2m, got ${value}`);
  }
  const keepReleases = options.keepReleases;
  if (keepReleases !== undefined && !(Number.isInteger(keepReleases) && keepReleases >= 1)) {
    throw new RangeError(`keepReleases must be a whole number of at least 1, got ${keepReleases}`);
  }
  const dir = path.resolve(dest);

  const existing = await readdir(dir).catch((err) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (existing.length > 0) throw new Error(`${dir} is not empty; give a new or empty folder`);
  await mkdir(dir, { recursive: true });

  // Variables like GIT_DIR (set when running inside a git hook) would point git elsewhere.
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !GIT_LOCATION_VARS.has(name)));
  /**
   * @param {string[]} args
   * @param {Record<string, string>} [env]
   */
  const git = (args, env = {}) => run('git', args, { cwd: dir, env: { ...baseEnv, ...env } });

  await git(['init', '-q', '-b', 'main']);
  // Local identity and settings: works on a machine with no global git config.
  for (const [key, value] of [
    ['user.name', 'Notes Fixture'],
    ['user.email', 'notes-fixture@example.invalid'],
    ['commit.gpgsign', 'false'],
    ['tag.gpgsign', 'false'],
    ['core.autocrlf', 'false'],
  ]) {
    await git(['config', key, value]);
  }

  const slipwayYml = renderSlipwayYml({
    port,
    nodePath,
    healthWindow: options.healthWindow,
    drainTimeout: options.drainTimeout,
    healthDeadline: options.healthDeadline,
    keepReleases,
  });
  for (const [index, version] of VERSIONS.entries()) {
    await clearWorkTree(dir);
    for (const folder of ['base', ...version.overlays]) {
      await cp(path.join(APP_DIR, folder), dir, { recursive: true });
    }
    await writeFile(path.join(dir, 'slipway.yml'), slipwayYml);
    await git(['add', '-A']);
    // Fixed, increasing dates: the same inputs give the same commits.
    const date = `2025-01-0${index + 1}T12:00:00Z`;
    await git(['commit', '-q', '-m', version.message], { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date });
    await git(['tag', '-a', version.tag, '-m', `notes ${version.tag}`], { GIT_COMMITTER_DATE: date });
  }

  return { dir, tags: VERSIONS.map((version) => version.tag) };
}

/**
 * The project file of the fixture; the same for every version.
 * NODE_PATH is also a config key with a default: slipway runs the migration
 * (`node migrate.js`) without the service's `env`, and it needs better-sqlite3 too.
 * NOTES_FAIL_MIGRATION is declared so that an agent started with it passes it on: the app
 * gets nothing of the agent's environment that slipway.yml does not name.
 * @param {{ port: number, nodePath: string, healthWindow?: string, drainTimeout?: string, healthDeadline?: string, keepReleases?: number }} options
 */
export function renderSlipwayYml({ port, nodePath, healthWindow, drainTimeout, healthDeadline = '20s', keepReleases }) {
  const tuning = [
    healthWindow === undefined ? '' : `    health_window: ${healthWindow}\n`,
    drainTimeout === undefined ? '' : `    drain_timeout: ${drainTimeout}\n`,
    keepReleases === undefined ? '' : `    retention: { releases: ${keepReleases} }\n`,
  ].join('');
  return `# slipway project file for the notes example app
app: notes
services:
  web:
    command: node server.js
    port_env: PORT
    env:
      NODE_PATH: ${yamlScalar(nodePath)}
    health:
      path: /healthz
      interval: 200ms
      timeout: 2s
      successes: 2
      deadline: ${healthDeadline}
build:
  commands: []
  exclude: ["*.md.bak"]
data:
  databases:
    main: { engine: sqlite, path: data/notes.db }
  folders: [uploads]
migrate:
  command: node migrate.js
  reversible: false
config:
  NODE_PATH:
    default: ${yamlScalar(nodePath)}
    description: where the app finds better-sqlite3 and pg
  NOTES_FAIL_MIGRATION:
    description: 1 makes the migration fail on purpose after its work (tests of a failed update)
environments:
  production:
    host: local
    port: ${port}
${tuning}`;
}

/** A path as a YAML scalar: plain when that is unambiguous, else double-quoted. */
function yamlScalar(/** @type {string} */ value) {
  return /^[A-Za-z0-9_./-]+$/.test(value) ? value : JSON.stringify(value);
}

/** Removes everything but .git, so a version's tree has exactly its own files. */
async function clearWorkTree(/** @type {string} */ dir) {
  for (const name of await readdir(dir)) {
    if (name !== '.git') await rm(path.join(dir, name), { recursive: true, force: true });
  }
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'node-path': { type: 'string' },
      'health-window': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'keep-releases': { type: 'string' },
      'health-deadline': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const usage = 'usage: node examples/make-fixture-repo.js <dest> [--port N] [--node-path DIR] [--health-window 1s] [--drain-timeout 2s] [--health-deadline 20s] [--keep-releases N]';
  if (values.help) {
    console.log(usage);
    return;
  }
  if (positionals.length !== 1) throw new UsageError(usage);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new UsageError(`--port must be a whole number from 1 to 65535, got ${values.port}`);
  }
  const keepReleases = values['keep-releases'] === undefined ? undefined : Number(values['keep-releases']);
  let created;
  try {
    created = await createNotesFixtureRepo(positionals[0], {
      port,
      nodePath: values['node-path'],
      healthWindow: values['health-window'],
      drainTimeout: values['drain-timeout'],
      healthDeadline: values['health-deadline'],
      keepReleases,
    });
  } catch (err) {
    // Bad option values (RangeError) are usage errors; anything else (git, disk) is not.
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
  const { dir, tags } = created;
  console.log(`created ${dir} with tags ${tags.join(', ')}`);
}

class UsageError extends Error {}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((err) => {
    console.error(`make-fixture-repo: ${err.message}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  });
}
