import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { it } from 'node:test';
import { LABELS } from '../../src/container/engine.js';
import { SlipwayError } from '../../src/errors.js';
import { removeReleaseContainers, stopStaleContainers } from '../../src/runtime/container-cleanup.js';
import { startSlotContainer } from '../../src/runtime/container-slot.js';
import { findFreePort } from '../../src/runtime/ports.js';
import { containerRelease, containersWith, ensureContainerAppImage, inspectContainer, layOutRelease } from '../helpers/container-app.js';
import { removeContainersOf, requireDocker } from '../helpers/docker.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitUntil } from '../helpers/wait-until.js';

const ENVIRONMENT = 'production';

/** Starts the containers from another node process, then kills it (SIGKILL): an agent that died without stopping them. */
async function startInAnAgentThatDies(specs: Parameters<typeof startSlotContainer>[0][]): Promise<void> {
  const script = `const { startSlotContainer } = await import(process.argv[1]);
for (const spec of JSON.parse(process.argv[2])) await startSlotContainer(spec);
console.log('ready');
setInterval(() => {}, 1000);`;
  const moduleUrl = new URL('../../src/runtime/container-slot.js', import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, moduleUrl, JSON.stringify(specs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitUntil('the other agent started its containers', () => output.includes('ready') || child.exitCode !== null, 60_000);
  assert.ok(output.includes('ready'), output);
  child.kill('SIGKILL');
  await exited;
}

it('stopStaleContainers stops the service containers a dead agent left running (kept, not removed) and removes its command containers; removeReleaseContainers removes a pruned release', { timeout: 120_000 }, async (t) => {
  if (!requireDocker(t)) return;
  const app = 'ctr-cleanup';
  t.after(() => removeContainersOf(app));
  const imageId = ensureContainerAppImage();
  const root = tempDir(t, 'slipway-ctr-');
  const spec = async (version: string, slot: string, environmentName = ENVIRONMENT) => {
    const release = containerRelease({ app, version, imageId });
    return {
      service: { ...release.manifest.runtime.services[0]!, image: { id: imageId, layers: [], source: 'test' } },
      slot,
      manifest: release.manifest,
      releaseId: release.id,
      releaseDir: await layOutRelease(root, release),
      environmentName,
      env: { PORT: String(await findFreePort()), SLIPWAY_VERSION: version, SLIPWAY_SLOT: slot },
      logFile: path.join(root, 'logs', `${version}.${slot}.${environmentName}.log`),
    } satisfies Parameters<typeof startSlotContainer>[0];
  };
  const specs = [await spec('v1', 'blue'), await spec('v2', 'green'), await spec('v1', 'blue', 'staging')];
  // What an agent killed mid-update leaves: its serving container, the one it kept warm, one of staging's, a migration's.
  await startInAnAgentThatDies(specs);
  const found = specs.map((s) => ({ release: { id: s.releaseId }, id: containersWith({ [LABELS.app]: app, [LABELS.release]: s.releaseId, [LABELS.environment]: s.environmentName })[0]! }));
  const [stale, kept, staging] = [found[0]!, found[1]!, found[2]!];
  for (const c of found) assert.equal(inspectContainer(c.id)?.State.Status, 'running', 'the agent died, its containers run on');
  const command = spawnSync('docker', ['run', '-d', '--network', 'host', '--label', `${LABELS.app}=${app}`, '--label', `${LABELS.environment}=${ENVIRONMENT}`, '--label', `${LABELS.role}=command`, imageId, 'node', '-e', 'setTimeout(() => {}, 60000)'], { encoding: 'utf8' });
  assert.equal(command.status, 0, command.stderr);
  const commandId = command.stdout.trim();

  const result = await stopStaleContainers({ app, environment: ENVIRONMENT, keepReleaseIds: [kept.release.id], graceMs: 5_000 });
  assert.deepEqual(result, { stopped: 1, removed: 1 });
  assert.equal(inspectContainer(stale.id)?.State.Status, 'exited', 'stopped, kept until its release is pruned');
  assert.equal(inspectContainer(kept.id)?.State.Status, 'running', 'a release it was told to keep');
  assert.equal(inspectContainer(staging.id)?.State.Status, 'running', "another environment's container is not this agent's");
  assert.equal(inspectContainer(commandId), null, 'a leftover command container is removed');
  assert.deepEqual(await stopStaleContainers({ app, environment: ENVIRONMENT, keepReleaseIds: [kept.release.id] }), { stopped: 0, removed: 0 });

  assert.equal(await removeReleaseContainers({ app, environment: ENVIRONMENT, releaseId: stale.release.id }), 1);
  assert.equal(inspectContainer(stale.id), null);
  assert.equal(inspectContainer(staging.id)?.State.Status, 'running', 'the same release in another environment stays');
  assert.equal(await removeReleaseContainers({ app, environment: ENVIRONMENT, releaseId: kept.release.id }), 1, 'a running one too');
  assert.equal(inspectContainer(kept.id), null);
});

it('stopStaleContainers with no engine answering: DOCKER_UNREACHABLE', async () => {
  const saved = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock';
  try {
    const error = await stopStaleContainers({ app: 'ctr-cleanup', environment: ENVIRONMENT }).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof SlipwayError);
    assert.equal(error.code, 'DOCKER_UNREACHABLE');
    assert.match(error.message, /\/nonexistent\/docker\.sock/);
  } finally {
    if (saved === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = saved;
  }
});
