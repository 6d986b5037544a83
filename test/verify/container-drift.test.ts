import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { containerDrift } from '../../src/runtime/container-drift.js';
import type { ReleaseManifest } from '../../src/release/manifest.js';
import { ensureNodeBaseImage, removeContainersOf, requireDocker } from '../helpers/docker.js';

const APP = 'drift-test';
const RELEASE = 'a'.repeat(64);

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

function manifestWith(imageId: string): ReleaseManifest {
  const health = { path: '/healthz', intervalMs: 100, timeoutMs: 1000, successes: 1, deadlineMs: 5000 };
  return {
    runtime: { services: [{ name: 'web', portEnv: 'PORT', env: {}, health, image: { id: imageId, layers: [], source: 'Dockerfile' } }] },
  } as unknown as ReleaseManifest;
}

test('verify sees a container changed inside, or running another image; data mounts and /tmp are not drift', async (t) => {
  if (!requireDocker(t)) return;
  const image = ensureNodeBaseImage();
  const imageId = docker('image', 'inspect', '--format', '{{.Id}}', image);
  t.after(() => removeContainersOf(APP));
  const labels = [`dev.slipway.app=${APP}`, 'dev.slipway.environment=production', `dev.slipway.release=${RELEASE}`, 'dev.slipway.role=service', 'dev.slipway.service=web', 'dev.slipway.slot=blue'];
  const name = `slipway-${APP}-web-blue`;
  const uploads = mkdtempSync(path.join(os.tmpdir(), 'slipway-drift-'));
  t.after(() => rmSync(uploads, { recursive: true, force: true }));
  docker('run', '-d', '--init', '--name', name, '--network', 'host', '-v', `${uploads}:/app/uploads`, '--tmpfs', '/app/cache', ...labels.flatMap((l) => ['--label', l]), image, 'node', '-e', 'setInterval(() => {}, 1000)');

  const clean = await containerDrift({ app: APP, environment: 'production', releaseId: RELEASE, manifest: manifestWith(imageId) });
  assert.deepEqual(clean, []);

  docker('exec', name, 'sh', '-c', 'echo scratch > /tmp/x && echo upload > /app/uploads/a.txt && echo c > /app/cache/c');
  assert.deepEqual(await containerDrift({ app: APP, environment: 'production', releaseId: RELEASE, manifest: manifestWith(imageId) }), []);

  docker('exec', name, 'sh', '-c', 'echo patched > /app/server.js');
  const changed = await containerDrift({ app: APP, environment: 'production', releaseId: RELEASE, manifest: manifestWith(imageId) });
  assert.equal(changed.length, 1);
  assert.equal(changed[0]!.service, 'web');
  assert.deepEqual(changed[0]!.changes, [{ kind: 'A', path: '/app/server.js' }]);
  assert.equal(changed[0]!.image, undefined);

  const otherId = `sha256:${'b'.repeat(64)}`;
  const wrongImage = await containerDrift({ app: APP, environment: 'production', releaseId: RELEASE, manifest: manifestWith(otherId) });
  assert.deepEqual(wrongImage[0]!.image, { running: imageId, expected: otherId });

  // Another release's containers are not this release's drift.
  assert.deepEqual(await containerDrift({ app: APP, environment: 'production', releaseId: 'c'.repeat(64), manifest: manifestWith(otherId) }), []);
});
