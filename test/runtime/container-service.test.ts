import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { it, type TestContext } from 'node:test';
import { LABELS } from '../../src/container/engine.js';
import type { SlipwayError } from '../../src/errors.js';
import { startSlotContainer } from '../../src/runtime/container-slot.js';
import { probeHealth } from '../../src/runtime/health-check.js';
import { findFreePort } from '../../src/runtime/ports.js';
import { lastRunOutput, sinceLastStart, slotLogFile, startSlot, type Slot } from '../../src/runtime/slots.js';
import type { ServiceExit, SupervisedService } from '../../src/runtime/supervisor.js';
import { agentLikeEnvironment, containerRelease, containersWith, ensureContainerAppImage, IMAGE_PATH, inspectContainer, layOutRelease } from '../helpers/container-app.js';
import { removeContainersOf, requireDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait-until.js';

const ENVIRONMENT = 'production';

async function get(port: number, pathname: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`);
  assert.equal(response.status, 200, `${pathname} answered ${response.status}`);
  return response.text();
}

it('a container service starts in a slot: health check on its loopback port, the env of a process less the host PATH, its data folder is the host shared folder; stop is SIGTERM and keeps the container', { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-service';
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const release = containerRelease({ app, version: 'v1', imageId, env: { GREETING: 'hello' } });
  const releaseDir = await layOutRelease(root, release);
  const logsDir = path.join(root, 'logs');
  const start = () =>
    startSlot({ name: 'blue', manifest: release.manifest, releaseId: release.id, cwd: releaseDir, logsDir, runDir: path.join(root, 'run'), environmentName: ENVIRONMENT, serviceEnvironment: agentLikeEnvironment({ APP_KEY: 'from-env-file' }) });
  const slots: Slot[] = [];
  t.after(() => Promise.allSettled(slots.flatMap((s) => s.services.map((x) => x.process.stop({ graceMs: 1000 })))));

  const slot = await start();
  slots.push(slot);
  const web = slot.services[0]!;
  assert.equal(web.process.state(), 'running');
  assert.ok(web.process.isAlive());
  assert.ok((web.process.pid() ?? 0) > 1, 'the container has a pid on the host');
  assert.equal(await get(slot.port, '/'), 'v1:blue');

  const env = JSON.parse(await get(slot.port, '/env')) as Record<string, string>;
  assert.equal(env.PORT, String(slot.port));
  assert.equal(env.SLIPWAY_RELEASE_ID, release.id);
  assert.equal(env.SLIPWAY_ENV, ENVIRONMENT);
  assert.equal(env.SLIPWAY_SLOT, 'blue');
  assert.equal(env.GREETING, 'hello', "the service's own env");
  assert.equal(env.APP_KEY, 'from-env-file', "the app's config");
  assert.notEqual(process.env.PATH, IMAGE_PATH, 'precondition: the host PATH differs from the image PATH');
  assert.equal(env.PATH, IMAGE_PATH, "the image's PATH, not the host's");

  // The data folder is the host's shared folder, at the same path under the image's WorkingDir.
  assert.equal(await get(slot.port, '/write?path=uploads/hello.txt&text=from-the-container'), 'written');
  assert.equal(readFileSync(path.join(root, 'shared', 'uploads', 'hello.txt'), 'utf8'), 'from-the-container');
  const labels = { [LABELS.app]: app, [LABELS.release]: release.id, [LABELS.slot]: 'blue' };
  const [id] = containersWith(labels);
  const info = inspectContainer(id!)!;
  assert.deepEqual(info.Mounts.map((m) => [m.Source, m.Destination]), [[realpathSync(path.join(root, 'shared', 'uploads')), '/app/uploads']]);
  assert.equal(info.Config.Labels[LABELS.environment], ENVIRONMENT);
  assert.equal(info.Config.Labels[LABELS.service], 'web');
  assert.equal(info.Config.Labels[LABELS.version], 'v1');
  assert.equal(info.Config.Labels[LABELS.role], 'service');

  await web.process.stop({ graceMs: 5000 });
  assert.equal(web.process.state(), 'stopped');
  assert.equal(web.process.isAlive(), false);
  const log = sinceLastStart(await web.process.lastOutput(50));
  assert.match(log[0]!, /\[slipway\] starting web\.blue from image [0-9a-f]{12}: the image's own command/);
  assert.ok(log.some((l) => l === `listening on ${slot.port}`), log.join('\n'));
  assert.ok(log.some((l) => l === 'got SIGTERM'), `the app got SIGTERM:\n${log.join('\n')}`);
  assert.ok(log.some((l) => /web\.blue exited \(code 0, signal -\) after stop/.test(l)), log.join('\n'));
  assert.equal(inspectContainer(id!)?.State.Status, 'exited', 'stopped, not removed');

  // The same release in the same slot again: the stopped container of that name is replaced.
  const again = await start();
  slots.push(again);
  assert.equal(await get(again.port, '/'), 'v1:blue');
  assert.equal(containersWith(labels).length, 1);
  assert.equal(inspectContainer(id!), null, 'the old container was replaced');
  assert.equal(readFileSync(slotLogFile(logsDir, 'web', 'blue'), 'utf8').match(/\[slipway\] starting web\.blue/g)?.length, 2, 'one log for both runs');
});

it('a crashed container restarts with backoff; too many crashes and it is failed', { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-crash';
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const restart = { maxRestarts: 2, initialBackoffMs: 100, maxBackoffMs: 1000, windowMs: 60_000 };

  // A server that exits when asked: it comes back on its own, on the same port.
  const release = containerRelease({ app, version: 'v1', imageId });
  const releaseDir = await layOutRelease(root, release);
  const serverPort = await findFreePort();
  const service = await startSlotContainer({
    service: { ...release.manifest.runtime.services[0]!, image: { id: imageId, layers: [], source: 'test' } },
    slot: 'green',
    manifest: release.manifest,
    releaseId: release.id,
    releaseDir,
    environmentName: ENVIRONMENT,
    env: { PORT: String(serverPort), SLIPWAY_VERSION: 'v1', SLIPWAY_SLOT: 'green' },
    logFile: path.join(root, 'logs', 'web.green.log'),
    restart,
  });
  t.after(() => service.stop({ graceMs: 1000 }));
  const exits: ServiceExit[] = [];
  service.on('exit', (exit) => exits.push(exit));
  const healthy = async () => (await probeHealth(`http://127.0.0.1:${serverPort}/healthz`, 500)).ok;
  await waitUntil('the server answers', healthy, 20_000);
  await get(serverPort, '/exit?code=5');
  await waitUntil('the server is back after its crash', async () => service.restarts() === 1 && (await healthy()), 20_000);
  assert.equal(service.state(), 'running');
  assert.ok(service.isAlive());
  assert.deepEqual(exits, [{ code: 5, signal: null, willRestart: true, restartInMs: 100 }]);

  // A command that always fails: restarted twice (100 ms, then 200 ms), then given up.
  const failing = containerRelease({ app, version: 'v2', imageId, command: 'echo "crashing in $SLIPWAY_SLOT"; exit 3' });
  const failingDir = await layOutRelease(root, failing);
  const crasher = await startSlotContainer({
    service: { ...failing.manifest.runtime.services[0]!, image: { id: imageId, layers: [], source: 'test' } },
    slot: 'blue',
    manifest: failing.manifest,
    releaseId: failing.id,
    releaseDir: failingDir,
    environmentName: ENVIRONMENT,
    env: { PORT: '0', SLIPWAY_SLOT: 'blue' },
    logFile: path.join(root, 'logs', 'web.blue.log'),
    restart,
  });
  t.after(() => crasher.stop({ graceMs: 1000 }));
  const crashes: ServiceExit[] = [];
  crasher.on('exit', (exit) => crashes.push(exit));
  await waitUntil('the crashing service is failed', () => crasher.state() === 'failed', 30_000);
  assert.deepEqual(crashes, [
    { code: 3, signal: null, willRestart: true, restartInMs: 100 },
    { code: 3, signal: null, willRestart: true, restartInMs: 200 },
    { code: 3, signal: null, willRestart: false },
  ]);
  assert.equal(crasher.restarts(), 2);
  assert.equal(crasher.isAlive(), false);
  const log = sinceLastStart(await crasher.lastOutput(40));
  assert.match(log[0]!, /starting web\.blue from image [0-9a-f]{12}: echo "crashing in \$SLIPWAY_SLOT"; exit 3$/);
  assert.equal(log.filter((l) => l === 'crashing in blue').length, 3, log.join('\n'));
  assert.ok(log.some((l) => /starting web\.blue \(restart 2\)/.test(l)), log.join('\n'));
  assert.ok(log.some((l) => /web\.blue exited \(code 3, signal -\); gave up after 2 restart\(s\) within 60000ms/.test(l)), log.join('\n'));
  await crasher.stop({ graceMs: 1000 });
  assert.equal(crasher.state(), 'failed', 'a failed service stays failed once stopped');
});

it("with the author's command (sh -c), stop still reaches the app: SIGTERM to its process group, the shell exits once the app has", { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-command-stop';
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const release = containerRelease({ app, version: 'v1', imageId, command: 'echo "shell first"; node /app/server.js' });
  const releaseDir = await layOutRelease(root, release);
  const slot = await startSlot({ name: 'green', manifest: release.manifest, releaseId: release.id, cwd: releaseDir, logsDir: path.join(root, 'logs'), runDir: path.join(root, 'run'), environmentName: ENVIRONMENT, serviceEnvironment: agentLikeEnvironment({}) });
  const web = slot.services[0]!;
  t.after(() => web.process.stop({ graceMs: 1000 }));
  assert.equal(await get(slot.port, '/'), 'v1:green');
  const started = Date.now();
  await web.process.stop({ graceMs: 8_000 });
  assert.ok(Date.now() - started < 6_000, 'it stopped on SIGTERM, not at the kill after the grace time');
  const log = sinceLastStart(await web.process.lastOutput(50));
  assert.match(log[0]!, /starting web\.green from image [0-9a-f]{12}: echo "shell first"; node \/app\/server\.js$/);
  assert.ok(log.includes('shell first'), log.join('\n'));
  assert.ok(log.includes('got SIGTERM'), `the app under the shell got SIGTERM:\n${log.join('\n')}`);
  assert.ok(log.some((l) => /web\.green exited \(code 143, signal -\) after stop/.test(l)), log.join('\n'));
  assert.ok(!log.some((l) => /still running .* after SIGTERM/.test(l)), log.join('\n'));
});

/** One container service of `app` in slot blue running `command`, once it printed `up`; stopped and removed after the test. */
async function startOneService(t: TestContext, app: string, command: string): Promise<SupervisedService> {
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const release = containerRelease({ app, version: 'v1', imageId });
  const service = await startSlotContainer({
    service: { ...release.manifest.runtime.services[0]!, command, image: { id: imageId, layers: [], source: 'test' } },
    slot: 'blue',
    manifest: release.manifest,
    releaseId: release.id,
    releaseDir: await layOutRelease(root, release),
    environmentName: ENVIRONMENT,
    env: {},
    logFile: path.join(root, 'logs', 'web.blue.log'),
  });
  t.after(() => service.stop({ graceMs: 1000 }));
  await waitUntil('the app is up', async () => (await service.lastOutput(5)).includes('up'), 20_000);
  return service;
}

it('an app that ignores SIGTERM is killed once the grace time is over, and the log says so', { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-stubborn';
  const service = await startOneService(t, app, `node -e "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); setInterval(() => {}, 1000); console.log('up')"`);
  const started = Date.now();
  await service.stop({ graceMs: 1000 });
  assert.ok(Date.now() - started >= 900, 'it was given its grace time');
  assert.equal(service.state(), 'stopped');
  const log = sinceLastStart(await service.lastOutput(20));
  assert.ok(log.includes('ignoring SIGTERM'), log.join('\n'));
  assert.ok(log.some((l) => /web\.blue exited \(code 137, signal -\) after stop/.test(l)), log.join('\n'));
  assert.ok(log.some((l) => /web\.blue was still running 1000ms after SIGTERM: killed/.test(l)), log.join('\n'));
});

it('a container release that cannot start is refused with the reason, and leaves nothing running: image missing, data link missing, exiting during its health check', { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-refused';
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const start = (release: { id: string; manifest: Slot['manifest'] }, cwd: string) =>
    startSlot({ name: 'blue', manifest: release.manifest, releaseId: release.id, cwd, logsDir: path.join(root, 'logs'), runDir: path.join(root, 'run'), environmentName: ENVIRONMENT, serviceEnvironment: agentLikeEnvironment({}) }).then(
      () => assert.fail('it should not start'),
      (error: unknown) => error as SlipwayError,
    );

  const missing = containerRelease({ app, version: 'v1', imageId: `sha256:${'0'.repeat(64)}` });
  const noImage = await start(missing, await layOutRelease(root, missing));
  assert.equal(noImage.code, 'IMAGE_MISSING');
  assert.match(noImage.message, /the image 000000000000 of v1 is not in the Docker engine/);

  const unlinked = containerRelease({ app, version: 'v2', imageId });
  const noLink = await start(unlinked, path.join(root, 'not-installed'));
  assert.equal(noLink.code, 'SHARED_LINK_MISSING');

  const crashing = containerRelease({ app, version: 'v3', imageId, command: 'echo "cannot reach the database"; exit 1' });
  const unhealthy = await start(crashing, await layOutRelease(root, crashing));
  assert.equal(unhealthy.code, 'RELEASE_UNHEALTHY');
  assert.match(unhealthy.message, /v3 .*service web did not become healthy/);
  assert.ok(unhealthy.details.includes('  cannot reach the database'), unhealthy.details.join('\n'));
  const left = containersWith({ [LABELS.app]: app });
  assert.equal(left.length, 1, 'its container is kept for a look, as a stopped one');
  assert.notEqual(inspectContainer(left[0]!)?.State.Status, 'running');
});

it('an error quotes how a container ended even when the engine reports the exit later than a failed probe: lastRunOutput waits for it', { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-killed';
  const service = await startOneService(t, app, `node -e "setInterval(() => {}, 1000); console.log('up')"`);
  const [container] = containersWith({ [LABELS.app]: app });
  assert.ok(container, 'its container runs');
  // Killed from outside (as the kernel's out-of-memory killer would): the engine has it dead at once,
  // the service hears of it through its wait on the engine, a moment later.
  assert.equal(spawnSync('docker', ['kill', '--signal', 'KILL', container]).status, 0);
  await waitUntil('the engine has it stopped', async () => inspectContainer(container)?.State.Status === 'exited', 10_000, { intervalMs: 20 });
  const output = await lastRunOutput(service);
  assert.ok(output.some((l) => /web\.blue exited \(code 137, signal -\)/.test(l)), output.join('\n'));
  assert.equal(service.isAlive(), false);
});
