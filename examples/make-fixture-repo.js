#!/usr/bin/env node
// Makes a git repository of the notes example app with three tagged commits,
// v1, v2 and v3, each with a slipway.yml — the app slipway deploys in its demo
// and tests.
//
//   node examples/make-fixture-repo.js <dest> [--port N] [--node-path DIR]
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
 * Creates the fixture repository at `dest`, which must not exist or be empty.
 * @param {string} dest
 * @param {{ port?: number, nodePath?: string }} [options]
 * @returns {Promise<{ dir: string, tags: string[] }>}
 */
export async function createNotesFixtureRepo(dest, options = {}) {
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port must be 1-65535, got ${port}`);
  const nodePath = path.resolve(options.nodePath ?? DEFAULT_NODE_PATH);
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

  const slipwayYml = renderSlipwayYml({ port, nodePath });
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
 * @param {{ port: number, nodePath: string }} options
 */
export function renderSlipwayYml({ port, nodePath }) {
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
      deadline: 20s
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
environments:
  production:
    host: local
    port: ${port}
`;
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
      help: { type: 'boolean', short: 'h' },
    },
  });
  const usage = 'usage: node examples/make-fixture-repo.js <dest> [--port N] [--node-path DIR]';
  if (values.help) {
    console.log(usage);
    return;
  }
  if (positionals.length !== 1) throw new UsageError(usage);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new UsageError(`--port must be a whole number from 1 to 65535, got ${values.port}`);
  }
  const { dir, tags } = await createNotesFixtureRepo(positionals[0], { port, nodePath: values['node-path'] });
  console.log(`created ${dir} with tags ${tags.join(', ')}`);
}

class UsageError extends Error {}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  main().catch((err) => {
    console.error(`make-fixture-repo: ${err.message}`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  });
}
