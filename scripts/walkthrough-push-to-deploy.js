#!/usr/bin/env node
// Push to deploy, run for real: CI publishes each commit to an S3-compatible store,
// the server's agent (pull mode) picks it up at its next poll or at once after
// `slipway notify`, a release that never gets healthy is refused while the old one keeps
// serving, and `channel set` rolls back. Against a throwaway S3 server (s3rver, the one
// the tests use) on this machine. Prints every command with its real output and writes
// the same to docs/walkthrough-push-to-deploy.md (the README links it).
//
//   npm run build && node scripts/walkthrough-push-to-deploy.js
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNotesFixtureRepo } from '../examples/make-fixture-repo.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(root, 'bin', 'slipway.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'slipway-walkthrough-'));
const appDir = path.join(work, 'notes');
const home = path.join(work, 'slipway-home');
const out = [];
const BUCKET = 'releases';
const SECRET_ENV = 'SLIPWAY_MANAGEMENT_SECRET';
const POLL = '10s';

function say(text = '') {
  console.log(text);
  out.push(text);
}

/** The page shows paths as a reader would have them, not this run's temp folder. */
const tidy = (text) => text.split(work).join('~').replace(/\x1b\[[0-9;]*m/g, '');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function version(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/version', timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve(res.statusCode === 200 ? body.trim() : null));
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}

async function waitForVersion(port, wanted, timeoutMs) {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const now = await version(port);
    if (now !== null && (now === wanted || now.includes(`"${wanted}"`) || now.includes(wanted))) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`walkthrough stopped: ${wanted} was not served within ${timeoutMs / 1000} s`);
}

let env;
/** The CLI's stdout, not shown (for waiting on the agent). */
async function quiet(args) {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (text += c));
  await new Promise((resolve) => child.on('close', resolve));
  return text;
}

/** Runs the CLI without blocking this process: the S3 server answers from it meanwhile. */
async function slipway(args, { expectFailure = false } = {}) {
  say(`$ slipway ${args.map((a) => (/[\s;]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (text += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (text += c));
  const status = await new Promise((resolve) => child.on('close', resolve));
  const shown = tidy(text).trimEnd();
  if (shown) say(shown);
  say();
  if (expectFailure ? status === 0 : status !== 0) throw new Error(`walkthrough stopped: slipway ${args.join(' ')} exited ${status}`);
  return { status, text };
}

const S3rver = createRequire(import.meta.url)('s3rver');
const s3dir = path.join(work, 's3');
const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir, configureBuckets: [{ name: BUCKET, configs: [] }] });
const { port: s3port } = await s3.run();
const endpoint = `http://127.0.0.1:${s3port}`;
let agent = null;

try {
  const port = await freePort();
  const managementPort = await freePort();
  await createNotesFixtureRepo(appDir, { port, nodePath: path.join(root, 'node_modules'), healthWindow: '2s', drainTimeout: '1s', healthDeadline: '4s' });
  const appPart = readFileSync(path.join(appDir, 'slipway.yml'), 'utf8').split(/^environments:\n/m)[0];
  const environments = [
    'environments:',
    '  production:',
    '    host: local',
    `    port: ${port}`,
    '    health_window: 2s',
    `    store: { type: s3, bucket: ${BUCKET}, endpoint: "${endpoint}", force_path_style: true }`,
    `    pull: { interval: ${POLL}, jitter: 0s }   # the agent polls the channel`,
    `    management: { port: ${managementPort}, secret_env: ${SECRET_ENV} }   # for \`slipway notify\``,
    '',
  ].join('\n');
  writeFileSync(path.join(appDir, 'slipway.yml'), `${appPart}${environments}`);
  spawnSync('git', ['commit', '-qam', 'production pulls from the S3 store'], { cwd: appDir });
  env = {
    ...process.env,
    SLIPWAY_HOME: home,
    NO_COLOR: '1',
    SLIPWAY_WHO: 'ci',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    [SECRET_ENV]: 'a-long-random-secret-shared-by-ci-and-the-server',
  };

  say('# Push to deploy: a walkthrough with real output');
  say();
  say('Generated by `node scripts/walkthrough-push-to-deploy.js` against an S3-compatible server on this');
  say('machine (s3rver, at the endpoint below; yours is your bucket\'s); the times below come from that run. The example app is the notes app in');
  say('`examples/` (tags v1, v2, v3; v3 never answers its health check).');
  say();
  say('## 1. The project file: the environment pulls its releases from the store');
  say();
  say('```yaml');
  say(tidy(environments.trimEnd()));
  say('```');
  say();
  say('## 2. The CI job');
  say();
  say('Any CI that runs a shell on each push will do. It needs the store credentials and the');
  say('management secret as secret variables; nothing reaches the server over SSH.');
  say();
  say('```yaml');
  say('deploy:');
  say('  on: push to main');
  say('  secrets: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, SLIPWAY_MANAGEMENT_SECRET]');
  say('  steps:');
  say('    - checkout (with tags)');
  say('    - run: npm ci');
  say('    - run: npx slipway publish production --ref "$CI_COMMIT_SHA"   # build once, upload, move the channel');
  say('    - run: npx slipway notify production                          # optional: without it the agent finds it at its next poll');
  say('```');
  say();
  say('## 3. The server: one agent in pull mode');
  say();
  say('```');
  say('$ slipway agent --env production      # under systemd: Restart=always');
  say('```');
  say();
  agent = spawn(process.execPath, [cliPath, 'agent', '--env', 'production'], { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let agentLog = '';
  agent.stdout.on('data', (c) => (agentLog += c));
  agent.stderr.on('data', (c) => (agentLog += c));

  say('## 4. CI publishes v1; the agent picks it up at its next poll');
  say();
  say('```');
  await slipway(['publish', 'production', '--ref', 'v1']);
  const firstMs = await waitForVersion(port, 'v1', 60_000);
  say(`# v1 served ${(firstMs / 1000).toFixed(1)} s after the publish (poll interval ${POLL})`);
  say('```');
  say();
  say('## 5. CI publishes v2 and notifies: the agent updates at once');
  say();
  say('```');
  await slipway(['publish', 'production', '--ref', 'v2']);
  const notified = Date.now();
  await slipway(['notify', 'production']);
  await waitForVersion(port, 'v2', 60_000);
  say(`# v2 served ${((Date.now() - notified) / 1000).toFixed(1)} s after the notify was sent`);
  say('```');
  say();
  say('## 6. A bad release is refused; v2 keeps serving');
  say();
  say('```');
  await slipway(['publish', 'production', '--ref', 'v3']);
  await slipway(['notify', 'production']);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const history = JSON.parse((await quiet(['history', 'production', '--json'])) || '[]');
    if (history.some((d) => d.to === 'v3' && d.outcome !== null)) break;
    if (Date.now() > deadline) throw new Error(`walkthrough stopped: the agent did not try v3 within 60 s\n${agentLog}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  say(`# GET /version → ${await version(port)}`);
  await slipway(['history', 'production']);
  say('```');
  say();
  say('## 7. Roll back by moving the channel');
  say();
  say('```');
  await slipway(['channel', 'set', 'production', 'v1', '--reason', 'v2 misbehaves; back to v1']);
  await slipway(['notify', 'production']);
  await waitForVersion(port, 'v1', 60_000);
  say(`# GET /version → ${await version(port)}`);
  await slipway(['channel', 'history', 'production']);
  await slipway(['status', 'production']);
  say('```');
  // WALKTHROUGH_OUT: where the page goes instead (the test that runs this in CI keeps docs/ as it is).
  writeFileSync(process.env.WALKTHROUGH_OUT ?? path.join(root, 'docs', 'walkthrough-push-to-deploy.md'), `${out.join('\n')}\n`);
  console.log(`\nwritten: ${process.env.WALKTHROUGH_OUT ?? 'docs/walkthrough-push-to-deploy.md'}`);
} finally {
  if (agent) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
  }
  await s3.close().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
