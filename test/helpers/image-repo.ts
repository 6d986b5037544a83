/**
 * A git repository of a container app for the image tests: a Dockerfile FROM the test
 * node base image (built offline from this machine's node), an app file, and a
 * slipway.yml with one `build: .` service. Each test file uses its own app name, so
 * the images it builds (labelled with the app) are its own, and removes them after.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { LoadedProject, ServiceConfig } from '../../src/config/types.js';
import { buildRelease, type BuiltRelease } from '../../src/release/build.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { putBuiltImages } from '../../src/store/image-objects.js';
import { loadObjectIndex } from '../../src/store/objects.js';
import { putBuiltRelease } from '../../src/store/releases.js';
import { ensureNodeBaseImage } from './docker.js';
import { makeRepo, type RepoFixture } from '../release/repo-fixture.js';

export interface ImageRepo extends RepoFixture {
  app: string;
  /** the project with one container service `web` built from the repo's Dockerfile */
  containerProject(): LoadedProject;
}

export function webService(container: ServiceConfig['container']): ServiceConfig {
  return {
    name: 'web',
    portEnv: 'PORT',
    env: {},
    health: { path: '/healthz', intervalMs: 200, timeoutMs: 1000, successes: 1, deadlineMs: 10_000 },
    container,
  };
}

const DOCKERFILE = 'FROM slipway-test/node-base:1\nCOPY app.js /app/app.js\nCMD ["/usr/bin/node", "/app/app.js"]\n';

/** A repo with a Dockerfile FROM the node base image copying app.js (or the given Dockerfile and files), committed and tagged v1. */
export function makeImageRepo(t: TestContext, app: string, appJs = 'console.log("v1");\n', more: { dockerfile?: string; files?: Record<string, string | Buffer> } = {}): ImageRepo {
  ensureNodeBaseImage();
  const repo = makeRepo(t);
  repo.write('Dockerfile', more.dockerfile ?? DOCKERFILE);
  repo.write('app.js', appJs);
  for (const [name, content] of Object.entries(more.files ?? {})) repo.write(name, content);
  repo.write('slipway.yml', `app: ${app}\nservices:\n  web:\n    build: .\nenvironments:\n  production:\n    port: 18080\n`);
  repo.commit('v1');
  repo.git('tag', 'v1');
  const containerProject = () => repo.project({ app, services: [webService({ build: { context: '.', dockerfile: 'Dockerfile', args: {} } })] });
  return { ...repo, app, containerProject };
}

/** Builds a release of the repo and puts it into the store as `slipway build` does: images first, then the release. */
export async function buildAndStore(o: { project: LoadedProject; store: BlobStore; outDir: string; ref?: string; version?: string; images?: boolean }): Promise<BuiltRelease> {
  const index = await loadObjectIndex(o.store, o.project.config.app);
  const built = await buildRelease({ project: o.project, outDir: o.outDir, ref: o.ref, version: o.version, knownObjects: (sha256) => index.get(sha256)?.size });
  if (o.images !== false) await putBuiltImages(o.store, o.project.config.app, built.images, { index });
  await putBuiltRelease(o.store, o.project.config.app, built);
  return built;
}

/** docker image inspect: the image's id, tags and labels, or null when the engine does not have it. */
export function inspectImage(ref: string): { Id: string; RepoTags: string[]; Config: { Labels: Record<string, string> | null } } | null {
  const out = spawnSync('docker', ['image', 'inspect', ref], { encoding: 'utf8' });
  if (out.status !== 0) return null;
  return (JSON.parse(out.stdout) as Array<{ Id: string; RepoTags: string[]; Config: { Labels: Record<string, string> | null } }>)[0]!;
}

/** Removes an image from the engine whatever tags it has (as `docker rmi -f`). */
export function removeImage(id: string): void {
  spawnSync('docker', ['rmi', '-f', id], { stdio: 'ignore' });
}

/** Every image id the engine holds (intermediate ones included): compare before and after. */
/** The engine's image ids; with an app, only those labelled with it (other test files build and remove images meanwhile). */
export function engineImageIds(app?: string): string[] {
  const filter = app === undefined ? [] : ['--filter', `label=dev.slipway.app=${app}`];
  return spawnSync('docker', ['images', '-aq', '--no-trunc', ...filter], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
}

/** Removes the images tagged slipway/<app> and those labelled with the app (a test's leftovers). */
export function removeImagesOf(app: string): void {
  const tagged = spawnSync('docker', ['images', '-q', '--no-trunc', '--filter', `reference=slipway/${app}`], { encoding: 'utf8' }).stdout;
  const labelled = spawnSync('docker', ['images', '-aq', '--no-trunc', '--filter', `label=dev.slipway.app=${app}`], { encoding: 'utf8' }).stdout;
  const ids = [...new Set([...tagged.split('\n'), ...labelled.split('\n')].filter(Boolean))];
  if (ids.length > 0) spawnSync('docker', ['rmi', '-f', ...ids], { stdio: 'ignore' });
}

/** Bytes of the files under a folder (a store's size). */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}
