#!/usr/bin/env node
// Makes a git repository of the notes app as a compose stack (web + worker built
// from a Dockerfile, PostgreSQL beside them): the app of examples/notes-app with
// examples/notes-stack on top. From the command line: three tagged commits, v1, v2
// and v3, without slipway.yml. From code (the container demo): v1's files, then
// `init --from-compose` adds slipway.yml, then commitNotesStackVersion tags each
// version with it.
//
//   node examples/make-stack-repo.js <dest> [--base-image IMG] [--postgres-image IMG] [--db-port N]
//
// db.env (the database password and URL) is written beside compose.yml and is not
// committed: secrets stay out of the repository.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const EXAMPLES_DIR = path.dirname(fileURLToPath(import.meta.url));
const APP_DIR = path.join(EXAMPLES_DIR, 'notes-app');
const STACK_DIR = path.join(EXAMPLES_DIR, 'notes-stack');
const NODE_MODULES = path.resolve(EXAMPLES_DIR, '..', 'node_modules');
// The PostgreSQL driver and what it needs: copied into vendor/, so that the image never runs npm.
const VENDORED = ['pg', 'pg-pool', 'pg-protocol', 'pg-types', 'pgpass', 'pg-connection-string', 'pg-int8', 'postgres-array', 'postgres-bytea', 'postgres-date', 'postgres-interval', 'split2', 'xtend'];

const VERSIONS = [
  { tag: 'v1', overlays: [], message: 'notes v1: notes and uploads' },
  { tag: 'v2', overlays: ['v2'], message: 'notes v2: word counts (migration 2 adds notes.words)' },
  { tag: 'v3', overlays: ['v2', 'v3'], message: 'notes v3: search index health check (its health check fails)' },
];

/**
 * The repository with v1's files committed (untagged: `init --from-compose` adds
 * slipway.yml next, then `commitNotesStackVersion(dir, 'v1')` commits and tags it).
 * @param {string} dest a new or empty folder
 * @param {{ baseImage?: string, postgresImage?: string, dbPort?: number }} [options]
 * @returns {Promise<{ dir: string, password: string }>}
 */
export async function createNotesStackRepo(dest, options = {}) {
  const dir = path.resolve(dest);
  const existing = await readdir(dir).catch(() => []);
  if (existing.length > 0) throw new Error(`${dir} is not empty; give a new or empty folder`);
  await mkdir(dir, { recursive: true });
  const dbPort = options.dbPort ?? 5432;
  await git(dir, ['init', '-q', '-b', 'main']);
  for (const [key, value] of [['user.name', 'Notes Fixture'], ['user.email', 'notes-fixture@example.invalid'], ['commit.gpgsign', 'false'], ['tag.gpgsign', 'false']]) {
    await git(dir, ['config', key, value]);
  }
  let compose = await readFile(path.join(STACK_DIR, 'compose.yml'), 'utf8');
  if (options.baseImage) compose = compose.replaceAll('BASE_IMAGE: node:20-slim', `BASE_IMAGE: ${options.baseImage}`);
  if (options.postgresImage) compose = compose.replace('image: postgres:15', `image: ${options.postgresImage}`);
  compose = compose.replace('"127.0.0.1:5432:5432"', `"127.0.0.1:${dbPort}:5432"`);
  await writeVersionFiles(dir, VERSIONS[0]);
  await writeFile(path.join(dir, 'compose.yml'), compose);
  await writeFile(path.join(dir, '.gitignore'), 'db.env\n');
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '-q', '-m', 'notes as a compose stack'], dateEnv(0));
  const password = randomBytes(12).toString('hex');
  await writeFile(path.join(dir, 'db.env'), `POSTGRES_PASSWORD=${password}\nDATABASE_URL=postgres://notes:${password}@db:5432/notes\n`, { mode: 0o600 });
  return { dir, password };
}

/**
 * Puts version `tag`'s app files over the tree (slipway.yml, compose.yml and db.env stay), commits
 * everything and tags it.
 * @param {string} dir
 * @param {'v1' | 'v2' | 'v3'} tag
 */
export async function commitNotesStackVersion(dir, tag) {
  const index = VERSIONS.findIndex((v) => v.tag === tag);
  if (index < 0) throw new RangeError(`no version ${tag}; one of ${VERSIONS.map((v) => v.tag).join(', ')}`);
  await writeVersionFiles(dir, VERSIONS[index]);
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '-q', '--allow-empty', '-m', VERSIONS[index].message], dateEnv(index + 1));
  await git(dir, ['tag', '-a', tag, '-m', `notes ${tag}`], dateEnv(index + 1));
}

/** @param {string} dir @param {{ overlays: string[] }} version */
async function writeVersionFiles(dir, version) {
  for (const folder of ['base', ...version.overlays]) await cp(path.join(APP_DIR, folder), dir, { recursive: true });
  await cp(path.join(STACK_DIR, 'Dockerfile'), path.join(dir, 'Dockerfile'));
  await cp(path.join(STACK_DIR, 'worker.js'), path.join(dir, 'worker.js'));
  for (const name of VENDORED) await cp(path.join(NODE_MODULES, name), path.join(dir, 'vendor', 'node_modules', name), { recursive: true });
}

/** Fixed, increasing dates: the same inputs give the same commits. */
function dateEnv(/** @type {number} */ index) {
  const date = `2025-01-0${index + 1}T12:00:00Z`;
  return { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date };
}

/** @param {string} dir @param {string[]} args @param {Record<string, string>} [env] */
function git(dir, args, env = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GIT_')));
  return run('git', args, { cwd: dir, env: { ...clean, ...env } });
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'base-image': { type: 'string' }, 'postgres-image': { type: 'string' }, 'db-port': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const usage = 'usage: node examples/make-stack-repo.js <dest> [--base-image IMG] [--postgres-image IMG] [--db-port N]';
  if (values.help || positionals.length !== 1) {
    console.log(usage);
    process.exit(values.help ? 0 : 2);
  }
  const { dir } = await createNotesStackRepo(positionals[0], {
    ...(values['base-image'] ? { baseImage: values['base-image'] } : {}),
    ...(values['postgres-image'] ? { postgresImage: values['postgres-image'] } : {}),
    ...(values['db-port'] ? { dbPort: Number(values['db-port']) } : {}),
  });
  for (const v of VERSIONS) await commitNotesStackVersion(dir, /** @type {'v1'} */ (v.tag));
  console.log(`${dir}: tags v1, v2, v3 (no slipway.yml: \`slipway init --from-compose compose.yml\` writes it); db.env holds the database password (not committed)`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
