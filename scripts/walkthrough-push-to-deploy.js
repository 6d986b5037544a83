#!/usr/bin/env node
// Push to deploy, run for real: CI publishes each commit to an S3-compatible store,
// the server's agent (pull mode) picks it up at its next poll or at once after
// `slipway notify`, a release that never gets healthy is refused while the old one keeps
// serving, and `channel set` rolls back. The server's part (its agent.env, the systemd unit,
// `slipway doctor`) is shown as a server has it; its agent here runs with only the variables
// of that agent.env, and the commands marked "on the server" run with them too. Against a throwaway S3 server (s3rver, the one
// the tests use) on this machine. Prints every command with its real output and writes
// the same to docs/walkthrough-push-to-deploy.md (the README links it).
//
//   npm run build && node scripts/walkthrough-push-to-deploy.js
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createNotesFixtureRepo } from '../examples/make-fixture-repo.js';
import { cliPath, freePort, request, root, runCli, shownCommand, startS3, startWalkthrough } from './walkthrough-kit.js';

const { work, appDir, home, say, tidy, writePage } = startWalkthrough();
const BUCKET = 'releases';
const SECRET_ENV = 'SLIPWAY_MANAGEMENT_SECRET';
/** The server's name in the project file (`hostname:`), its status reports and the signed notify. */
const SERVER = 'web1';
// The page shows a 10 s poll; the test that runs this script polls faster (WALKTHROUGH_POLL) to spend less time waiting.
const POLL = process.env.WALKTHROUGH_POLL ?? '10s';

/** What /version answers, or null when the app does not answer 200. */
async function version(port) {
  const answer = await request(port, 'GET', '/version', undefined, 2000);
  return answer.status === 200 ? answer.body.trim() : null;
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
/** What the agent runs with on the server: the variables of its agent.env, nothing of CI's. */
let serverEnv;
/** The CLI's stdout on the server, not shown (for waiting on the agent). */
async function quiet(args) {
  return (await runCli(args, { cwd: appDir, env: serverEnv })).stdout;
}

/** Runs the CLI (as CI, unless `serverEnv` says it runs on the server) and shows the command and its output on the page. */
async function slipway(args, { expectFailure = false, serverEnv } = {}) {
  say(`${shownCommand(args)}${serverEnv ? '      # on the server' : ''}`);
  const { status, both: text } = await runCli(args, { cwd: appDir, env: serverEnv ?? env });
  const shown = tidy(text).trimEnd();
  if (shown) say(shown);
  say();
  if (expectFailure ? status === 0 : status !== 0) throw new Error(`walkthrough stopped: slipway ${args.join(' ')} exited ${status}\n${text}`);
  return { status, text };
}

/** Polls `check` until it returns something truthy (which it returns), for up to 60 s. */
async function waitFor(what, check) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const found = await check();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`walkthrough stopped: waited 60 s for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Waits until the agent answers on its socket (its `status` names its pid). */
async function waitForAgent() {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const stdout = await quiet(['status', 'production', '--json']);
    if (stdout && JSON.parse(stdout).agent) return;
    if (Date.now() > deadline) throw new Error('walkthrough stopped: the agent did not start within 30 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

const { s3, endpoint } = await startS3(path.join(work, 's3'), BUCKET);
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
    '    # for `slipway notify` from CI: on a real server, bind an address CI reaches (notify connects there)',
    `    management: { bind: 127.0.0.1, port: ${managementPort}, secret_env: ${SECRET_ENV} }`,
    `    hostname: ${SERVER}   # the name the agent answers to and reports under: CI signs its notify for it`,
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
  say('## 3. The server: slipway, the project file, its secrets, an agent kept running');
  say();
  say('The server needs Node 20, the slipway CI runs (for instance a checkout of the app\'s repository with');
  say('`npm ci`, slipway being one of its dependencies) and the app\'s `slipway.yml`: the agent reads');
  say('`production` from it. It never builds: releases come from the store. It needs no SSH access from CI.');
  say();
  say(`What the agent itself needs and no file of slipway\'s holds goes in \`<root>/agent.env\`, KEY=value`);
  say('lines, mode 0600, readable only by the user that runs the agent. `<root>` is the environment\'s');
  say('folder on the server, `~/.slipway/hosts/notes/production` by default (`root:` in slipway.yml moves it):');
  say();
  // The store's credentials and the management secret: the agent of this run gets exactly these variables (see below).
  const envRoot = path.join(home, 'hosts', 'notes', 'production');
  mkdirSync(envRoot, { recursive: true, mode: 0o750 });
  const agentEnvFile = path.join(envRoot, 'agent.env');
  const agentEnvLines = [['AWS_ACCESS_KEY_ID', env.AWS_ACCESS_KEY_ID, 'the store\'s credentials'], ['AWS_SECRET_ACCESS_KEY', env.AWS_SECRET_ACCESS_KEY, ''], ['AWS_REGION', env.AWS_REGION, ''], [SECRET_ENV, env[SECRET_ENV], 'the same value as CI\'s secret']];
  writeFileSync(agentEnvFile, agentEnvLines.map(([key, value]) => `${key}=${value}\n`).join(''), { mode: 0o600 });
  say('```sh');
  say('# ~/.slipway/hosts/notes/production/agent.env (chmod 600)');
  for (const [key, value, note] of agentEnvLines) say(`${key}=${key === 'AWS_REGION' ? value : '…'}${note ? `   # ${note}` : ''}`);
  say('```');
  say();
  say('A systemd unit keeps the agent running and reads that file. `slipway setup` writes this unit itself on');
  say('servers it drives over SSH; a pull-mode server gets it by hand. Here it is as slipway\'s own unit');
  say('writer renders it (less the header comment `setup` adds) for a server where the app is checked out in');
  say('/srv/notes and the user `deploy` runs the agent:');
  say();
  const unitModule = path.join(root, 'dist', 'src', 'remote', 'systemd-unit.js');
  if (!existsSync(unitModule)) throw new Error('walkthrough stopped: dist/ is missing: run `npm run build` first');
  const { renderSystemdUnit, unitNameFor } = await import(pathToFileURL(unitModule).href);
  const unitName = unitNameFor('notes', 'production');
  const serverHome = '/home/deploy/.slipway';
  say('```ini');
  say(
    renderSystemdUnit({
      unitName,
      user: 'deploy',
      nodePath: '/usr/bin/node',
      cliPath: '/srv/notes/node_modules/slipway/bin/slipway.js',
      configFile: '/srv/notes/slipway.yml',
      environment: 'production',
      home: serverHome,
      environmentFile: `${serverHome}/hosts/notes/production/agent.env`,
    })
      .replace(/^# Written by `slipway setup`.*\n/, `# /etc/systemd/system/${unitName}\n`)
      .trimEnd(),
  );
  say('```');
  say();
  say('```');
  say(`$ sudo cp ${unitName} /etc/systemd/system/ && sudo systemctl daemon-reload && sudo systemctl enable --now ${unitName}`);
  say('```');
  say();
  say(`CI must reach the management port (\`management.port\`, ${managementPort} here). \`slipway notify\` connects to`);
  say('`management.bind`: set it to an address of the server that CI reaches, such as its private address');
  say('(with `0.0.0.0` the agent listens everywhere but notify connects to 127.0.0.1: then pass');
  say('`--url http://<server>:<port>`). Let only CI through the firewall to that port. Every request is signed');
  say('with the shared secret, for this environment and this `hostname`, and is refused a minute later.');
  say();
  // Here the agent runs as that unit would run it: the variables of agent.env, and nothing of CI's.
  serverEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SLIPWAY_HOME: home, NO_COLOR: '1', ...Object.fromEntries(agentEnvLines.map(([key, value]) => [key, value])) };
  agent = spawn(process.execPath, [cliPath, 'agent', '--env', 'production', '--config', path.join(appDir, 'slipway.yml')], { cwd: appDir, env: serverEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let agentLog = '';
  agent.stdout.on('data', (c) => (agentLog += c));
  agent.stderr.on('data', (c) => (agentLog += c));
  say('In this run the agent was started with exactly the variables of that file (plus PATH, HOME and');
  say('SLIPWAY_HOME), as the unit starts it. On the server, `slipway doctor` checks what it can before the');
  say('first release arrives:');
  say();
  say('```');
  await waitForAgent();
  await slipway(['doctor', 'production'], { serverEnv });
  say('```');
  say();
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
  await slipway(['history', 'production'], { serverEnv });
  say('```');
  say();
  say('## 7. Roll back by moving the channel');
  say();
  say('```');
  const movedAt = new Date().toISOString();
  await slipway(['channel', 'set', 'production', 'v1', '--reason', 'v2 misbehaves; back to v1']);
  await slipway(['notify', 'production']);
  await waitForVersion(port, 'v1', 60_000);
  say(`# GET /version → ${await version(port)}`);
  await slipway(['channel', 'history', 'production']);
  // v1 answers as soon as the proxy switches; the rollback still watches its health window and drains
  // v2. Its status is shown once it has finished and the agent has reported to the store after it.
  const rolledBack = await waitFor('the rollback to v1 to finish', async () => {
    const [latest] = JSON.parse((await quiet(['history', 'production', '--json'])) || '[]');
    return latest && latest.to === 'v1' && latest.startedAt >= movedAt && latest.outcome !== null ? latest : null;
  });
  await waitFor("the agent's report after the rollback", async () => {
    const status = JSON.parse(await quiet(['status', 'production', '--json']));
    const host = (status.hosts ?? []).find((h) => h.host === SERVER);
    return status.lock === null && host?.current?.version === 'v1' && host.reportedAt >= rolledBack.finishedAt;
  });
  await slipway(['history', 'production'], { serverEnv });
  await slipway(['status', 'production'], { serverEnv });
  say('```');
  writePage('walkthrough-push-to-deploy');
} finally {
  if (agent) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('exit', r));
  }
  await s3.close().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
