/**
 * A real Docker engine for the container tests. No registry is reachable here, so base
 * images are made from this machine's own binaries: a root filesystem holding `node`
 * (or PostgreSQL), `sh` and the libraries `ldd` lists, brought in with `docker import`.
 * Images are built once per engine (found again by tag) and shared by every test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { skipForMissingTool, type SkippableTest } from './missing-tool.js';

export const NODE_BASE_IMAGE = 'slipway-test/node-base:1';

let cachedReason: string | null | undefined;

/** Why container tests cannot run here, or null when the engine answers (DOCKER_HOST honoured; asked once per process for process.env). */
export function dockerUnavailableReason(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env === process.env && cachedReason !== undefined) return cachedReason;
  const docker = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: 15_000, env });
  const reason = docker.error
    ? `the docker client is missing (${docker.error.message}); .ci/run installs docker.io`
    : docker.status !== 0
      ? `no Docker engine answers (${(docker.stderr || docker.stdout).trim().split('\n')[0]}); .ci/run starts dockerd`
      : null;
  if (env === process.env) cachedReason = reason;
  return reason;
}

/** True when the engine answers; else skips the test, loudly, or in CI (CI set) fails it: CI has the engine. */
export function requireDocker(t: SkippableTest, env: NodeJS.ProcessEnv = process.env): boolean {
  const reason = dockerUnavailableReason(env);
  return reason === null || skipForMissingTool(t, 'a Docker engine', reason, env);
}

function imageExists(tag: string): boolean {
  return spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
}

/** Every shared library `ldd` lists for these binaries, with the loader. */
function librariesOf(binaries: string[]): string[] {
  const libraries = new Set<string>();
  for (const binary of binaries) {
    const out = spawnSync('ldd', [binary], { encoding: 'utf8' }).stdout ?? '';
    for (const line of out.split('\n')) {
      const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (match) libraries.add(match[1]!);
    }
  }
  return [...libraries];
}

/** Copies files into a root filesystem at their own paths (links followed: the copy holds the library itself). */
function copyIntoRoot(root: string, files: string[]): void {
  for (const file of files) {
    const target = path.join(root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    cpSync(file, target, { dereference: true });
  }
}

/** A root filesystem with sh, the given binaries and their libraries, /tmp, and a passwd with root and app (uid 1000). */
export function minimalRoot(binaries: string[]): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'slipway-rootfs-'));
  const shell = '/bin/sh';
  copyIntoRoot(root, [shell, ...binaries, ...librariesOf([shell, ...binaries])]);
  for (const dir of ['tmp', 'etc', 'app']) mkdirSync(path.join(root, dir), { recursive: true, mode: 0o1777 });
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n');
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
  return root;
}

/** `docker import` of a folder as an image with these Dockerfile-like changes (ENV, WORKDIR, CMD…). */
export function importRoot(root: string, tag: string, changes: string[]): void {
  const args = ['import', ...changes.flatMap((c) => ['--change', c]), '-', tag];
  const tar = spawnSync('tar', ['-C', root, '-c', '.'], { maxBuffer: 1024 * 1024 * 1024 });
  if (tar.status !== 0) throw new Error(`tar of ${root} failed: ${tar.stderr}`);
  execFileSync('docker', args, { input: tar.stdout, stdio: ['pipe', 'ignore', 'inherit'], maxBuffer: 1024 * 1024 });
}

/** A base image with this machine's node in /usr/bin and sh: Dockerfiles in tests build FROM it, offline. */
export function ensureNodeBaseImage(): string {
  if (imageExists(NODE_BASE_IMAGE)) return NODE_BASE_IMAGE;
  const node = process.execPath;
  const root = minimalRoot([node]);
  try {
    if (node !== '/usr/bin/node') {
      mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
      cpSync(node, path.join(root, 'usr/bin/node'), { dereference: true });
    }
    importRoot(root, NODE_BASE_IMAGE, ['ENV PATH=/usr/local/bin:/usr/bin:/bin', 'WORKDIR /app', 'CMD ["/usr/bin/node"]']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return NODE_BASE_IMAGE;
}

/** Removes every container and volume carrying slipway's labels for this app (a test's leftovers). */
export function removeContainersOf(app: string): void {
  const ids = spawnSync('docker', ['ps', '-aq', '--filter', `label=dev.slipway.app=${app}`], { encoding: 'utf8' }).stdout.trim();
  if (ids !== '') spawnSync('docker', ['rm', '-f', '-v', ...ids.split(/\s+/)], { stdio: 'ignore' });
  const volumes = spawnSync('docker', ['volume', 'ls', '-q', '--filter', `label=dev.slipway.app=${app}`], { encoding: 'utf8' }).stdout.trim();
  if (volumes !== '') spawnSync('docker', ['volume', 'rm', '-f', ...volumes.split(/\s+/)], { stdio: 'ignore' });
}


