import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import type { CliContext } from '../../src/cli/context.js';
import doctorCommand from '../../src/cli/doctor.js';
import { parseProjectText } from '../../src/config/load.js';
import type { ProjectConfig } from '../../src/config/types.js';
import { checkDocker } from '../../src/doctor/docker-checks.js';
import type { DoctorReport } from '../../src/doctor/run-doctor.js';
import { requireDocker } from '../helpers/docker.js';
import { freePort } from '../helpers/free-port.js';
import { tempDir } from '../helpers/temp-dir.js';

function project(yaml: string): ProjectConfig {
  const parsed = parseProjectText(`app: shop\n${yaml}environments:\n  production:\n    port: 8080\n`, 'slipway.yml');
  assert.deepEqual(parsed.problems, []);
  return parsed.config!;
}

const CONTAINER_APP = project('services:\n  web:\n    build: .\n');
const ACCESSORY_ONLY = project('services:\n  web:\n    command: node server.js\naccessories:\n  db:\n    image: postgres:16\n');
const PROCESS_APP = project('services:\n  web:\n    command: node server.js\n');

test('engine up: the check passes with its version and storage driver, and reports the free space where it keeps images', async (t) => {
  if (!requireDocker(t)) return;
  const version = execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).trim();
  const [driver, rootDir] = execFileSync('docker', ['info', '--format', '{{.Driver}}\n{{.DockerRootDir}}'], { encoding: 'utf8' }).trim().split('\n');
  const checks = await checkDocker({ services: CONTAINER_APP.services, accessories: CONTAINER_APP.accessories, env: {}, warnBelowBytes: 0, failBelowBytes: 0 });
  assert.deepEqual(checks.map((c) => [c.name, c.status]), [['docker', driver === 'vfs' ? 'warn' : 'ok'], ['docker disk', 'ok']]);
  assert.match(checks[0]!.detail, new RegExp(`^Docker ${version.replace(/[.+]/g, '\\$&')} \\(API [\\d.]+\\) on /var/run/docker.sock, storage driver ${driver}`));
  assert.match(checks[1]!.detail, new RegExp(`free under ${rootDir}, where the engine keeps images`));

  // the thresholds are real: a machine with less free space than asked warns, then fails, saying what to do
  const tight = await checkDocker({ services: [], accessories: ACCESSORY_ONLY.accessories, env: {}, warnBelowBytes: Number.MAX_SAFE_INTEGER, failBelowBytes: 0 });
  assert.equal(tight[1]!.status, 'warn');
  const full = await checkDocker({ services: [], accessories: ACCESSORY_ONLY.accessories, env: {}, failBelowBytes: Number.MAX_SAFE_INTEGER });
  assert.equal(full[1]!.status, 'fail');
  assert.equal(full[1]!.ok, false);
  assert.match(full[1]!.fix ?? '', /slipway prune/);
});

test('no engine at the socket: a clear failure naming the socket, who needs it, and how to start it', async (t) => {
  const socketPath = path.join(tempDir(t), 'docker.sock');
  const checks = await checkDocker({ services: CONTAINER_APP.services, accessories: ACCESSORY_ONLY.accessories, socketPath });
  assert.equal(checks.length, 1);
  const [check] = checks;
  assert.equal(check!.status, 'fail');
  assert.equal(check!.ok, false);
  assert.match(check!.detail, new RegExp(`does not answer on ${socketPath.replace(/[.]/g, '\\.')}`));
  assert.match(check!.detail, /service web, accessory db need it/);
  assert.match(check!.fix ?? '', /systemctl start docker/);
});

test('a socket that accepts but never answers: a failure after the timeout, not a hang', async (t) => {
  const socketPath = path.join(tempDir(t), 'silent.sock');
  const held = new Set<net.Socket>();
  const server = net.createServer((socket) => held.add(socket));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(() => {
    for (const socket of held) socket.destroy();
    server.close();
  });
  const started = Date.now();
  const checks = await checkDocker({ services: CONTAINER_APP.services, accessories: [], socketPath, timeoutMs: 500 });
  assert.equal(checks[0]!.status, 'fail');
  assert.match(checks[0]!.detail, /got no answer within 0\.5 s/);
  assert.ok(Date.now() - started < 5000, 'the check waited far past its timeout');
  assert.equal(held.size > 0, true, 'the check never reached the socket');
});

test('DOCKER_HOST over TCP: a failure that says slipway talks to the engine on this machine', async () => {
  const checks = await checkDocker({ services: CONTAINER_APP.services, accessories: [], env: { DOCKER_HOST: 'tcp://10.0.0.5:2375' } });
  assert.equal(checks[0]!.status, 'fail');
  assert.match(checks[0]!.detail, /DOCKER_HOST=tcp:\/\/10\.0\.0\.5:2375 is not a unix socket/);
  assert.match(checks[0]!.fix ?? '', /unset DOCKER_HOST/);
});

test('a process-only app: skipped, not failed, without asking any engine', async (t) => {
  const socketPath = path.join(tempDir(t), 'nothing-here.sock');
  const checks = await checkDocker({ services: PROCESS_APP.services, accessories: PROCESS_APP.accessories, socketPath });
  assert.deepEqual(checks.map((c) => [c.name, c.status, c.ok]), [['docker', 'skip', true]]);
  assert.match(checks[0]!.detail, /runs as processes/);
});

test('slipway doctor lists the engine checks for a container app, and fails (exit 1) when its engine does not answer', async (t) => {
  const root = tempDir(t, 'slipway-doctor-docker-');
  const dir = path.join(root, 'app');
  const home = path.join(root, 'home');
  fs.mkdirSync(dir);
  fs.mkdirSync(home);
  fs.writeFileSync(path.join(dir, 'slipway.yml'), `app: shop\nservices:\n  web:\n    build: .\nenvironments:\n  production:\n    port: ${await freePort()}\n`);
  const previousHome = process.env.SLIPWAY_HOME;
  process.env.SLIPWAY_HOME = home; // default host root and store
  t.after(() => (previousHome === undefined ? delete process.env.SLIPWAY_HOME : (process.env.SLIPWAY_HOME = previousHome)));
  const env = { ...process.env, SLIPWAY_HOME: home, DOCKER_HOST: `unix://${path.join(root, 'no-engine.sock')}` };
  const ctx: CliContext = { cwd: dir, env, interactive: false, canPrompt: false, color: false, progress: () => undefined };
  const result = await doctorCommand({ args: ['production'], json: true }, ctx);
  const report = JSON.parse(result.stdout ?? '') as DoctorReport;
  assert.equal(result.exitCode, 1, result.stdout);
  const docker = report.checks.find((c) => c.name === 'docker');
  assert.equal(docker?.status, 'fail', result.stdout);
  assert.match(docker!.detail, /no-engine\.sock.*service web needs it/);
  // the other checks still ran
  assert.ok(report.checks.some((c) => c.name === 'store'));
});
