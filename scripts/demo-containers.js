#!/usr/bin/env node
// The container demo: the notes app as a compose stack (web + worker built from a
// Dockerfile, PostgreSQL beside them) taken from `slipway init --from-compose` to a
// zero-downtime update with a verified database backup, a failed v3 rolled back,
// and `rollback --with-data`. Needs a Docker engine. Everything lives under
// .demo-containers/ (or $SLIPWAY_HOME if set).
//
// No registry is reachable on every machine, so the base images (node, PostgreSQL)
// are made from this machine's own binaries, the way the tests make them.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commitNotesStackVersion, createNotesStackRepo } from '../examples/make-stack-repo.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = path.join(root, '.demo-containers');
const home = process.env.SLIPWAY_HOME ?? path.join(demoDir, 'slipway-home');
const appDir = path.join(demoDir, 'notes-stack');
const cli = path.join(root, 'bin', 'slipway.js');

const engine = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' });
if (engine.status !== 0) {
  console.error('demo:containers needs a Docker engine: none answers (start dockerd, or `systemctl start docker`)');
  process.exit(1);
}
if (!existsSync(path.join(root, 'dist', 'test', 'helpers', 'docker.js'))) {
  console.error('run `npm run build` first (the demo makes its base images with the compiled test helpers)');
  process.exit(1);
}
const { ensureNodeBaseImage } = await import('../dist/test/helpers/docker.js');
const { ensurePostgresImage } = await import('../dist/test/helpers/docker-postgres.js');

// A previous demo's agent and containers go before their folders do.
if (existsSync(path.join(appDir, 'slipway.yml'))) {
  for (const env of ['production', 'staging']) spawnSync(process.execPath, [cli, 'agent', '--stop', '--env', env], { cwd: appDir, env: { ...process.env, SLIPWAY_HOME: home }, stdio: 'ignore' });
}
const leftovers = spawnSync('docker', ['ps', '-aq', '--filter', 'label=dev.slipway.app=notes-stack'], { encoding: 'utf8' }).stdout.trim();
if (leftovers) spawnSync('docker', ['rm', '-f', '-v', ...leftovers.split(/\s+/)], { stdio: 'ignore' });
spawnSync('docker', ['volume', 'rm', '-f', 'slipway-notes-stack-production-pgdata', 'slipway-notes-stack-staging-pgdata'], { stdio: 'ignore' });
rmSync(appDir, { recursive: true, force: true });
if (!process.env.SLIPWAY_HOME) rmSync(home, { recursive: true, force: true });
mkdirSync(demoDir, { recursive: true });

const baseImage = ensureNodeBaseImage();
const postgresImage = ensurePostgresImage();
const dbPort = Number(process.env.DEMO_DB_PORT ?? 25432);
await createNotesStackRepo(appDir, { baseImage, postgresImage, dbPort });
console.log(`the notes app as a compose stack: ${appDir}\nbase images: ${baseImage}, ${postgresImage}\nSLIPWAY_HOME=${home}\n`);

/** Runs slipway, printing the command and its output; resolves with its exit code. */
function slipway(args, o = {}) {
  console.log(`$ slipway ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: appDir, env: { ...process.env, SLIPWAY_HOME: home }, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    // A secret goes in on stdin, as a user would pipe it: never in the arguments or the printed command.
    if (o.input !== undefined) child.stdin.end(o.input);
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => {
      // The image builder's step lines are long and the same for every version: the summary says what was built.
      const lines = out.split('\n').filter((line) => !(o.quietBuild && /^\s+\| /.test(line)));
      console.log(lines.join('\n').trimEnd() + '\n');
      const expected = o.expectFailure ? code !== 0 : code === 0;
      if (!expected) {
        console.error(`demo stopped: slipway ${args.join(' ')} exited ${code}${o.expectFailure ? ' (a failure was expected)' : ''}`);
        process.exit(1);
      }
      resolve(code);
    });
  });
}

/** Requests against the app through slipway's proxy while `work` runs: every failed one is counted. */
async function underLoad(port, work) {
  const counts = { ok: 0, failed: 0, errors: new Map() };
  let running = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const loop = async (i) => {
    while (running) {
      const writing = i === 0;
      await new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, path: writing ? '/api/notes' : '/api/notes', method: writing ? 'POST' : 'GET', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode >= 200 && res.statusCode < 300) counts.ok += 1;
            else {
              counts.failed += 1;
              counts.errors.set(`HTTP ${res.statusCode}`, (counts.errors.get(`HTTP ${res.statusCode}`) ?? 0) + 1);
            }
            resolve();
          });
        });
        req.on('error', (error) => {
          counts.failed += 1;
          counts.errors.set(error.code ?? error.message, (counts.errors.get(error.code ?? error.message) ?? 0) + 1);
          resolve();
        });
        req.end(writing ? JSON.stringify({ text: `written under load ${counts.ok}` }) : undefined);
      });
      if (writing) await new Promise((r) => setTimeout(r, 50));
    }
  };
  const loops = [0, 1, 2].map(loop);
  await work();
  running = false;
  await Promise.all(loops);
  agent.destroy();
  const errors = [...counts.errors].map(([what, n]) => `${n}× ${what}`).join(', ');
  console.log(`# under load: ${counts.ok + counts.failed} requests through the proxy during the update, ${counts.failed} failed${errors ? ` (${errors})` : ''}\n`);
  return counts;
}

await slipway(['init', '--from-compose', 'compose.yml', '--yes']);
for (const version of ['v1', 'v2', 'v3']) await commitNotesStackVersion(appDir, version);
console.log('# slipway.yml is committed with the app, so every tag carries it (git tags v1, v2, v3)\n');
for (const version of ['v1', 'v2', 'v3']) await slipway(['build', '--ref', version], { quietBuild: true });
await slipway(['accessory', 'start', 'production']);
await slipway(['deploy', 'production', '--version', 'v1', '--yes']);
const port = 8000;
console.log('# v1 serves; v2 adds a column (a migration) and is deployed while clients read and write');
const load = await underLoad(port, () => slipway(['deploy', 'production', '--version', 'v2', '--yes']));
console.log('# v3 never becomes healthy: the deploy must fail, undo its migration, and leave v2 serving');
await slipway(['deploy', 'production', '--version', 'v3', '--yes'], { expectFailure: true });
await slipway(['rollback', 'production', '--with-data', '--yes']);
await slipway(['verify', 'production']);
await slipway(['accessory', 'status', 'production']);
await slipway(['status', 'production']);

// Staging on the same machine: its own PostgreSQL accessory on a port of its own, then a scrubbed copy of production's data.
const stagingDbPort = dbPort + 1;
const stagingPort = port + 1;
const config = YAML.parseDocument(readFileSync(path.join(appDir, 'slipway.yml'), 'utf8'));
const production = config.getIn(['environments', 'production']).toJSON();
const dbCommand = config.getIn(['accessories', 'db', 'command'])?.toJSON() ?? [];
const stagingCommand = dbCommand.map((arg) => (arg === `port=${dbPort}` ? `port=${stagingDbPort}` : arg));
config.setIn(['environments', 'staging'], config.createNode({ ...production, port: stagingPort, accessories: { db: { port: stagingDbPort, command: stagingCommand } } }));
writeFileSync(path.join(appDir, 'slipway.yml'), config.toString());
writeFileSync(path.join(appDir, 'scrub.sql'), "-- personal data never reaches staging: every note's text is replaced\nUPDATE notes SET text = 'note ' || id;\n");
console.log(`# staging added to slipway.yml (its own app port and its own database port):\n#   staging: { ..., port: ${stagingPort}, accessories: { db: { port: ${stagingDbPort}, command: [${stagingCommand.join(', ')}] } } }`);
console.log('# scrub.sql: UPDATE notes SET text = \'note \' || id;\n');
const dbPassword = /^POSTGRES_PASSWORD=(.*)$/m.exec(readFileSync(path.join(appDir, 'db.env'), 'utf8'))[1];
await slipway(['config', 'staging', 'set', 'POSTGRES_PASSWORD'], { input: dbPassword });
await slipway(['config', 'staging', 'set', 'DATABASE_URL'], { input: `postgres://notes:${dbPassword}@127.0.0.1:${stagingDbPort}/notes` });
await slipway(['accessory', 'start', 'staging']);
await slipway(['deploy', 'staging', '--version', 'v1', '--yes']);
await slipway(['data', 'copy', 'production', 'staging', '--scrub', 'scrub.sql', '--yes']);
const notesOf = async (p) => JSON.parse(await (await fetch(`http://127.0.0.1:${p}/api/notes`)).text());
const prodNotes = await notesOf(port);
const stagingNotes = await notesOf(stagingPort);
const texts = (list) => (Array.isArray(list) ? list : list.notes ?? []).map((n) => n.text);
console.log(`# production has ${texts(prodNotes).length} notes (e.g. "${texts(prodNotes)[0]}"); staging has ${texts(stagingNotes).length}, scrubbed (e.g. "${texts(stagingNotes)[0]}")\n`);
if (texts(stagingNotes).length !== texts(prodNotes).length || texts(stagingNotes).some((t) => !/^note \d+$/.test(t))) {
  console.error('demo: staging does not hold a scrubbed copy of production\'s notes');
  process.exit(1);
}
if (load.failed > 0) {
  console.error(`demo: ${load.failed} requests failed during the update from v1 to v2`);
  process.exit(1);
}
console.log(`The stack is served at http://127.0.0.1:${port} by a background agent; PostgreSQL runs in the accessory db.`);
console.log(`Staging is served at http://127.0.0.1:${stagingPort}, on a scrubbed copy of production's data.`);
console.log(`Stop them: (cd ${path.relative(process.cwd(), appDir) || '.'} && export SLIPWAY_HOME=${home}; for env in production staging; do node ${cli} agent --stop --env $env; node ${cli} accessory stop $env; done)`);
