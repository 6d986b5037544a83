#!/usr/bin/env node
// Staged deployment, run for real: development → staging (on a scrubbed copy of
// production's data) → promote → production, once with a change that migrates (the
// maintenance window measured from outside, under load) and once with one that does not
// (blue/green, every request counted). staging and production pull from an S3-compatible
// store (s3rver, the one the tests use) on this machine; each environment keeps its notes in
// its own database of a PostgreSQL server started for the run (it must be installed). Prints
// every command with its real output and writes the same to docs/walkthrough-staged.md (the
// README links it).
//
// Staging's data_copy is nightly ("0 3 * * *") in the project file; so that the run shows a copy
// made by the schedule, the script sets it, before staging's agent starts, to the first minute
// that begins at least 15 s after production's backup (server local time), and says so on the
// page. The run waits for that minute: 15 to 75 s, partly spent on development's update.
//
//   npm run build && node scripts/walkthrough-staged.js
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createNotesFixtureRepo } from '../examples/make-fixture-repo.js';
import { cliPath, freePort, request, root, runCli, shownCommand, startS3, startWalkthrough } from './walkthrough-kit.js';
import { startWalkthroughPostgres } from './walkthrough-postgres.js';

const { work, appDir, home, say, tidy, writePage } = startWalkthrough();
const BUCKET = 'releases';
const SECRET_ENV = 'SLIPWAY_MANAGEMENT_SECRET';
const NIGHTLY_COPY = 'data_copy: { from: production, schedule: "0 3 * * *", scrub: scrub.sql }';
/** The least time between production's backup and the scheduled copy: staging deploys v1 first. */
const COPY_LEAD_MS = 15_000;

async function waitForVersion(port, wanted, timeoutMs = 90_000) {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if ((await request(port, 'GET', '/version')).body.trim() === wanted) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`walkthrough stopped: ${wanted} was not served on port ${port} within ${timeoutMs / 1000} s`);
}

/** Reads and writes against `port` until stopped: how many, how many failed, the longest one. */
function load(port) {
  let stopped = false;
  const results = [];
  const running = (async () => {
    for (let i = 0; !stopped; i++) {
      results.push(i % 2 === 0 ? await request(port, 'GET', '/api/notes') : await request(port, 'POST', '/api/notes', JSON.stringify({ text: `load ${i}` })));
    }
  })();
  return async () => {
    stopped = true;
    await running;
    const failed = results.filter((r) => !(r.status >= 200 && r.status < 300));
    const writes = results.filter((_, i) => i % 2 === 1);
    return { requests: results.length, failed: failed.length, statuses: [...new Set(failed.map((r) => r.status))], longestMs: Math.round(Math.max(...results.map((r) => r.ms))), longestWriteMs: Math.round(Math.max(...writes.map((r) => r.ms))) };
  };
}

let env;
/** Runs the CLI, shown on the page with its output unless `show` is false; its stdout. */
async function slipway(args, { show = true, input, stdinFrom } = {}) {
  if (show) say(`${shownCommand(args)}${stdinFrom ? ` < ${stdinFrom}` : ''}`);
  const { status, stdout, both } = await runCli(args, { cwd: appDir, env, input });
  if (show) {
    const shown = tidy(both).trimEnd();
    if (shown) say(shown);
    say();
  }
  if (status !== 0) throw new Error(`walkthrough stopped: slipway ${args.join(' ')} exited ${status}\n${both}`);
  return stdout;
}

async function waitForReport(envName, releaseVersion) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const lines = JSON.parse(await slipway(['status', envName, '--json'], { show: false }));
    const host = (lines.hosts ?? [])[0];
    if (host && host.current?.version === releaseVersion && host.health === 'healthy') return;
    if (Date.now() > deadline) throw new Error(`walkthrough stopped: ${envName} never reported ${releaseVersion} healthy`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until the newest update of `envName` has finished (its health window and drain included); returns it. */
async function finishedUpdate(envName, toVersion) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const [latest] = JSON.parse(await slipway(['history', envName, '--json'], { show: false }));
    if (latest && latest.to === toVersion && latest.outcome !== null) return latest;
    if (Date.now() > deadline) throw new Error(`walkthrough stopped: the update of ${envName} to ${toVersion} did not finish`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The fixture's project file with its notes in PostgreSQL (the URL in DATABASE_URL) instead of SQLite. */
function onPostgres(projectFile) {
  const sqlite = '    main: { engine: sqlite, path: data/notes.db }\n';
  if (!projectFile.includes(sqlite) || !/^config:\n/m.test(projectFile)) throw new Error('walkthrough stopped: the fixture\'s slipway.yml has no SQLite database line or config section to change');
  return projectFile
    .replace(sqlite, '    main: { engine: postgres, url_env: DATABASE_URL }\n')
    .replace(/^config:\n/m, 'config:\n  DATABASE_URL:\n    required: true\n    secret: true\n    description: the PostgreSQL database of the notes (slipway\'s backups use it too)\n');
}

const { s3, endpoint } = await startS3(path.join(work, 's3'), BUCKET);
const agents = [];

/** Starts `name`'s agent in the foreground, as a server's service manager would; its log is kept. */
function startAgent(name) {
  const agent = spawn(process.execPath, [cliPath, 'agent', '--env', name], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  agent.stdout.setEncoding('utf8').on('data', (c) => (log += c));
  agent.stderr.setEncoding('utf8').on('data', (c) => (log += c));
  agents.push(agent);
  return { log: () => log };
}
let postgres;

try {
  postgres = await startWalkthroughPostgres(['development', 'staging', 'production']);
  const ports = { development: await freePort(), staging: await freePort(), production: await freePort() };
  const management = { staging: await freePort(), production: await freePort() };
  await createNotesFixtureRepo(appDir, { port: ports.production, nodePath: path.join(root, 'node_modules'), healthWindow: '2s', drainTimeout: '1s', healthDeadline: '8s' });
  const git = (...args) => {
    const done = spawnSync('git', args, { cwd: appDir, encoding: 'utf8' });
    if (done.status !== 0) throw new Error(`walkthrough stopped: git ${args.join(' ')} exited ${done.status}\n${done.stderr}`);
    return done;
  };
  // The fixture's v1 and v2 keep their notes in SQLite; here they are in PostgreSQL: the same
  // code (the app picks its database by DATABASE_URL), the project file's data section changed.
  for (const tag of ['v1', 'v2']) {
    git('checkout', '-q', '-B', `${tag}-postgres`, tag);
    writeFileSync(path.join(appDir, 'slipway.yml'), onPostgres(readFileSync(path.join(appDir, 'slipway.yml'), 'utf8')));
    git('commit', '-qam', `notes ${tag}: notes in PostgreSQL`);
    git('tag', '-f', '-a', tag, '-m', `notes ${tag}`);
  }
  // v2.1: a change without a migration, on top of v2.
  git('checkout', '-q', '-B', 'v2-fixes', 'v2');
  writeFileSync(path.join(appDir, 'CHANGELOG.md'), `# Changelog\n\n## v2.1\n\n- Clearer error messages (no schema change).\n\n${readFileSync(path.join(appDir, 'CHANGELOG.md'), 'utf8').replace(/^# Changelog\n\n/, '')}`);
  const server = path.join(appDir, 'server.js');
  writeFileSync(server, readFileSync(server, 'utf8').replace(/(APP_VERSION = ['"])v2(['"])/, '$1v2.1$2'));
  git('commit', '-qam', 'notes v2.1: clearer messages, no migration');
  git('tag', '-a', 'v2.1', '-m', 'notes v2.1');
  git('checkout', '-q', 'main');
  const appPart = onPostgres(readFileSync(path.join(appDir, 'slipway.yml'), 'utf8').split(/^environments:\n/m)[0]);
  const store = `{ type: s3, bucket: ${BUCKET}, endpoint: "${endpoint}", force_path_style: true }`;
  const environments = [
    'environments:',
    '  development:',
    '    host: local',
    `    port: ${ports.development}`,
    '    # no store: releases built on this machine (the local store)',
    '  staging:',
    '    host: local',
    `    port: ${ports.staging}`,
    '    health_window: 2s',
    `    store: ${store}`,
    '    pull: { interval: 5s, jitter: 0s }',
    `    management: { port: ${management.staging}, secret_env: ${SECRET_ENV} }`,
    '    # every night, staging\'s agent copies production\'s newest verified backup, scrubbed:',
    `    ${NIGHTLY_COPY}`,
    '  production:',
    '    host: local',
    `    port: ${ports.production}`,
    '    health_window: 2s',
    `    store: ${store}`,
    '    pull: { interval: 5s, jitter: 0s }',
    `    management: { port: ${management.production}, secret_env: ${SECRET_ENV} }`,
    '',
  ].join('\n');
  writeFileSync(path.join(appDir, 'slipway.yml'), `${appPart}${environments}`);
  writeFileSync(path.join(appDir, 'scrub.sql'), "-- personal data never reaches staging\nUPDATE notes SET text = 'note ' || id WHERE text LIKE '%@%';\n");
  git('add', 'slipway.yml', 'scrub.sql');
  git('commit', '-qm', 'three environments; staging and production pull from the store');
  env = { ...process.env, SLIPWAY_HOME: home, NO_COLOR: '1', SLIPWAY_WHO: 'alice', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', [SECRET_ENV]: 'a-long-random-secret-for-the-management-api' };

  say('# Staged deployment: a walkthrough with real output');
  say();
  say('Generated by `node scripts/walkthrough-staged.js`: development, staging and production of the');
  say('notes example app on one machine, staging and production pulling from an S3-compatible server');
  say(`(s3rver). The notes are in PostgreSQL ${postgres.version} (one database per environment); v2 adds a`);
  say('column (a migration); v2.1 changes no schema. Staging\'s own agent copies production\'s data, scrubbed,');
  say('on its `data_copy` schedule. Every figure below comes from that run.');
  say();
  say('The data and config sections of `slipway.yml`:');
  say();
  say('```yaml');
  say(/^data:\n[\s\S]*?(?=^\S)/m.exec(appPart)[0].trimEnd());
  say(/^config:\n  DATABASE_URL:\n(?: {4}.*\n)*/m.exec(appPart)[0].trimEnd());
  say('```');
  say();
  say('```yaml');
  say(tidy(environments.trimEnd()));
  say('```');
  say();
  say('```sql');
  say(readFileSync(path.join(appDir, 'scrub.sql'), 'utf8').trimEnd());
  say('```');
  say();
  /** Sets `name`'s DATABASE_URL from a file on stdin, as a reader would: the password stays out of argv. */
  const setDatabaseUrl = async (name) => {
    const file = path.join(work, `${name}-database.url`);
    writeFileSync(file, `${postgres.urls[name]}\n`, { mode: 0o600 });
    await slipway(['config', name, 'set', 'DATABASE_URL'], { input: readFileSync(file), stdinFrom: tidy(file) });
  };

  say('## 1. production runs v1, with real users\' data; staging runs v1');
  say();
  say('```');
  say(`# PostgreSQL ${postgres.version} on 127.0.0.1:${postgres.port}: databases ${Object.values(postgres.databases).join(', ')}, owned by role notes`);
  await slipway(['publish', 'production', '--ref', 'v1']);
  say('# each database URL (with its password) goes in on stdin: it is in neither argv nor the shell\'s history');
  await setDatabaseUrl('production');
  await setDatabaseUrl('staging');
  // production's agent starts once its DATABASE_URL is set: v1 cannot start without it.
  startAgent('production');
  await waitForVersion(ports.production, 'v1');
  await finishedUpdate('production', 'v1');
  for (const text of ['invoice for alice@example.com', 'call bob@example.org back', 'order 1042 shipped']) await request(ports.production, 'POST', '/api/notes', JSON.stringify({ text }));
  await slipway(['backup', 'production']);
  // staging's copy, due at 03:00, is moved to a minute of this run (the line in slipway.yml changes; its agent reads it when it starts).
  const due = new Date(Math.ceil((Date.now() + COPY_LEAD_MS) / 60_000) * 60_000);
  const runCopy = NIGHTLY_COPY.replace('"0 3 * * *"', `"${due.getMinutes()} ${due.getHours()} * * *"`);
  writeFileSync(path.join(appDir, 'slipway.yml'), readFileSync(path.join(appDir, 'slipway.yml'), 'utf8').replace(NIGHTLY_COPY, runCopy));
  say(`# for this run, staging's copy is due at ${String(due.getHours()).padStart(2, '0')}:${String(due.getMinutes()).padStart(2, '0')} (server local time), shortly after that backup, instead of 03:00:`);
  say(`#   ${runCopy}`);
  const staging = startAgent('staging');
  await slipway(['publish', 'staging', '--ref', 'v1']);
  await waitForVersion(ports.staging, 'v1');
  await finishedUpdate('staging', 'v1');
  // The copy is an update of staging: due while v1's update held staging's lock, it would have been refused.
  if (Date.now() >= due.getTime()) throw new Error(`walkthrough stopped: staging's v1 update ended after its copy was due (${due.toISOString()}); COPY_LEAD_MS is too short for this machine`);
  say('```');
  say();
  say('## 2. development: try v2 by hand');
  say();
  say('```');
  await slipway(['build', '--ref', 'v2']);
  await setDatabaseUrl('development');
  await slipway(['deploy', 'development', '--version', 'v2', '--yes']);
  say('```');
  say();
  say('## 3. staging\'s agent copies production\'s data on its schedule, scrubbed');
  say();
  say('```');
  const copyDeadline = Date.now() + 150_000;
  let scheduled;
  for (;;) {
    [scheduled] = JSON.parse(await slipway(['data', 'copies', 'staging', '--json'], { show: false })).filter((c) => c.trigger === 'schedule' && c.outcome !== null);
    if (scheduled) break;
    if (Date.now() > copyDeadline) throw new Error(`walkthrough stopped: no scheduled copy on staging by ${new Date().toISOString()}\n${staging.log()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (scheduled.outcome !== 'succeeded') throw new Error(`walkthrough stopped: the scheduled copy ${scheduled.outcome}: ${scheduled.error}\n${staging.log()}`);
  say("# staging's agent log (its data copy lines):");
  for (const line of staging.log().split('\n').filter((l) => /^\[agent\] (scheduled data copies|data copy from|next data copy)/.test(l))) say(tidy(line));
  say(`# GET /api/notes on staging → ${(await request(ports.staging, 'GET', '/api/notes')).body}`);
  await slipway(['data', 'copies', 'staging']);
  say('```');
  say();
  say('## 4. v2 (a migration) is tested on staging, then promoted');
  say();
  say('```');
  await slipway(['publish', 'staging', '--ref', 'v2']);
  await slipway(['notify', 'staging']);
  await waitForVersion(ports.staging, 'v2');
  await waitForReport('staging', 'v2');
  const migrationLoad = load(ports.production);
  await slipway(['promote', 'staging', 'production']);
  await slipway(['notify', 'production']);
  await waitForVersion(ports.production, 'v2');
  const migrated = await finishedUpdate('production', 'v2');
  const migration = await migrationLoad();
  const stepMs = (name) => migrated.steps.filter((step) => step.name === name).reduce((sum, step) => sum + (step.ms ?? 0), 0);
  say(`# production's record of the update (slipway history production --json): ${migrated.outcome}; writes held for the maintenance window: migrate ${stepMs('migrate')} ms + start ${stepMs('start')} ms + switch ${stepMs('switch')} ms`);
  say(`# production under load meanwhile: ${migration.requests} requests, ${migration.failed} failed${migration.failed ? ` (status ${migration.statuses.join(', ')})` : ''}; writes were held, not refused: the longest write took ${migration.longestWriteMs} ms`);
  say('```');
  say();
  say('## 5. v2.1 (no schema change): blue/green on production, every request counted');
  say();
  say('```');
  await slipway(['publish', 'staging', '--ref', 'v2.1']);
  await slipway(['notify', 'staging']);
  await waitForVersion(ports.staging, 'v2.1');
  await waitForReport('staging', 'v2.1');
  const blueGreenLoad = load(ports.production);
  await slipway(['promote', 'staging', 'production']);
  await slipway(['notify', 'production']);
  await waitForVersion(ports.production, 'v2.1');
  await finishedUpdate('production', 'v2.1');
  const blueGreen = await blueGreenLoad();
  say(`# production under load during the update: ${blueGreen.requests} requests, ${blueGreen.failed} failed; the longest took ${blueGreen.longestMs} ms`);
  say('```');
  say();
  say('## 6. Where everything stands');
  say();
  say('```');
  await slipway(['history', 'production']);
  await slipway(['channel', 'history', 'production']);
  await slipway(['status']);
  say('```');
  writePage('walkthrough-staged');
} finally {
  for (const agent of agents) agent.kill('SIGTERM');
  await Promise.all(agents.map((agent) => new Promise((r) => (agent.exitCode !== null ? r() : agent.once('exit', r)))));
  // development's agent was started in the background by `deploy`.
  spawnSync(process.execPath, [cliPath, 'agent', '--stop', '--env', 'development'], { cwd: appDir, env, stdio: 'ignore' });
  await s3.close().catch(() => undefined);
  await postgres?.stop().catch((error) => console.error(`could not stop the walkthrough's PostgreSQL: ${error.message}`));
  rmSync(work, { recursive: true, force: true });
}
