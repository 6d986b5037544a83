/**
 * A tiny app image for the container runtime's tests, built FROM the node base image (offline),
 * and releases of it laid out on a host the way an install leaves them: the release folder with
 * its data folders linked to the host's shared/ folder.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HealthCheckConfig, ServiceConfig } from '../../src/config/types.js';
import { serviceEnvironment } from '../../src/host/app-env.js';
import { linkSharedPaths } from '../../src/host/shared-links.js';
import { releaseIdOf, type ReleaseManifest } from '../../src/release/manifest.js';
import type { ServiceEnvironment } from '../../src/runtime/slots.js';
import { ensureNodeBaseImage } from './docker.js';
import { manifestOf } from './manifests.js';

/**
 * Answers /healthz; / with `<version>:<slot>`; /env with its environment; /write?path=&text= writes
 * a file (relative to its working directory); /exit?code= exits. Says so when SIGTERM arrives.
 */
const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const port = Number(process.env.PORT);
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://app');
  if (url.pathname === '/healthz') return res.end('ok');
  if (url.pathname === '/env') return res.end(JSON.stringify(process.env));
  if (url.pathname === '/write') {
    fs.writeFileSync(url.searchParams.get('path'), url.searchParams.get('text'));
    return res.end('written');
  }
  if (url.pathname === '/exit') {
    console.log('exiting on request');
    res.end('bye');
    return setTimeout(() => process.exit(Number(url.searchParams.get('code'))), 10);
  }
  res.end(process.env.SLIPWAY_VERSION + ':' + process.env.SLIPWAY_SLOT);
});
server.keepAliveTimeout = 1000;
server.listen(port, '127.0.0.1', () => console.log('listening on ' + port));
process.on('SIGTERM', () => {
  console.log('got SIGTERM');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});
`;

const DOCKERFILE = `FROM slipway-test/node-base:1
COPY server.js /app/server.js
CMD ["node", "/app/server.js"]
`;

/** PATH as the node base image sets it */
export const IMAGE_PATH = '/usr/local/bin:/usr/bin:/bin';

/** Builds the app image once per engine (its tag names its content); returns its id. */
export function ensureContainerAppImage(): string {
  ensureNodeBaseImage();
  const tag = `slipway-test/container-app:${createHash('sha256').update(SERVER + DOCKERFILE).digest('hex').slice(0, 12)}`;
  const inspect = () => spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], { encoding: 'utf8' });
  let found = inspect();
  if (found.status !== 0) {
    const context = mkdtempSync(path.join(os.tmpdir(), 'slipway-image-'));
    try {
      writeFileSync(path.join(context, 'server.js'), SERVER);
      writeFileSync(path.join(context, 'Dockerfile'), DOCKERFILE);
      // The classic builder: no builder plugin is installed here, and it builds FROM a local image offline.
      execFileSync('docker', ['build', '-q', '-t', tag, context], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
    found = inspect();
  }
  return found.stdout.trim();
}

export const FAST_HEALTH: HealthCheckConfig = { path: '/healthz', intervalMs: 50, timeoutMs: 1000, successes: 2, deadlineMs: 20_000 };

/** A release of `app` whose web service runs the image; `uploads` is its data folder. */
export function containerRelease(o: { app: string; version: string; imageId: string; command?: string; env?: Record<string, string> }): { id: string; manifest: ReleaseManifest } {
  const base = manifestOf(o.app, o.version, { 'README.md': `${o.version}\n` });
  const web: ServiceConfig = {
    name: 'web',
    portEnv: 'PORT',
    env: o.env ?? {},
    health: FAST_HEALTH,
    image: { id: o.imageId, layers: [], source: 'test/Dockerfile' },
    ...(o.command === undefined ? {} : { command: o.command }),
  };
  const manifest: ReleaseManifest = { ...base, runtime: { ...base.runtime, services: [web], data: { databases: [], folders: ['uploads'] } } };
  return { id: releaseIdOf(manifest), manifest };
}

/** releases/<id>/ with its data folders linked to shared/, as an install leaves it; returns the release folder. */
export async function layOutRelease(root: string, release: { id: string; manifest: ReleaseManifest }): Promise<string> {
  const releaseDir = path.join(root, 'releases', release.id);
  mkdirSync(releaseDir, { recursive: true });
  await linkSharedPaths({ releaseDir, sharedDir: path.join(root, 'shared'), data: release.manifest.runtime.data });
  return releaseDir;
}

/** The environment the agent gives a release's services: the agent's allow-list (PATH, HOME…), the app's config, slipway's variables. */
export function agentLikeEnvironment(appConfig: Record<string, string>): ServiceEnvironment {
  return (service, extra) =>
    serviceEnvironment({ processEnv: process.env, secrets: { management: null, store: { type: 'local', path: '/nowhere' } }, appConfig, serviceEnv: service.env, extra });
}

/** `docker inspect` of a container, parsed; null when there is none. */
export function inspectContainer(nameOrId: string): { Id: string; Name: string; State: { Status: string; ExitCode: number }; Config: { Labels: Record<string, string> }; Mounts: { Source: string; Destination: string }[] } | null {
  const out = spawnSync('docker', ['container', 'inspect', nameOrId], { encoding: 'utf8' });
  if (out.status !== 0) return null;
  return (JSON.parse(out.stdout) as ReturnType<typeof inspectContainer>[])[0] ?? null;
}

/** Ids of the containers carrying all these labels (stopped ones too). */
export function containersWith(labels: Record<string, string>): string[] {
  const filters = Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`]);
  const out = spawnSync('docker', ['ps', '-aq', '--no-trunc', ...filters], { encoding: 'utf8' }).stdout.trim();
  return out === '' ? [] : out.split(/\s+/);
}
