/**
 * Checks of the Docker engine, for apps with container services or accessories: that it
 * answers, its version and storage driver, and the free space where it keeps images.
 * Process-only apps skip them: they never need an engine.
 */
import type { AccessoryConfig, ServiceConfig } from '../config/types.js';
import { connectEngine, engineSocketPath } from '../container/engine.js';
import { SlipwayError } from '../errors.js';
import { freeBytesAt } from '../plan/gather.js';
import { formatBytes } from '../util/format.js';
import { errorText, result, type DoctorCheck } from './check-result.js';
import { GIB } from './machine-checks.js';

/** Below this a release's new image layers may not fit; below the fail mark the next build or load will not. */
export const DOCKER_DISK_WARN_BYTES = 5 * GIB;
export const DOCKER_DISK_FAIL_BYTES = 1 * GIB;
/** Debian 12's docker.io; the engine API slipway uses is tested against it. */
const OLDEST_TESTED_MAJOR = 20;
const ENGINE_TIMEOUT_MS = 10_000;

interface EngineInfo {
  ServerVersion?: string;
  Driver?: string;
  DockerRootDir?: string;
}

/** Rejects when `work` takes longer than `ms` (an engine whose socket accepts but never answers). */
async function withinTime<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} got no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function startFix(socketPath: string): string {
  return `start the engine (\`systemctl start docker\`, or \`dockerd\` by hand); if it runs, check that this user may use ${socketPath} (the docker group), or set DOCKER_HOST=unix:///path/to/docker.sock`;
}

export async function checkDocker(o: {
  services: readonly ServiceConfig[];
  accessories: readonly AccessoryConfig[];
  env?: NodeJS.ProcessEnv;
  /** default: DOCKER_HOST, else /var/run/docker.sock */
  socketPath?: string;
  timeoutMs?: number;
  warnBelowBytes?: number;
  failBelowBytes?: number;
}): Promise<DoctorCheck[]> {
  const containers = o.services.filter((s) => s.container !== undefined).map((s) => `service ${s.name}`);
  const users = [...containers, ...o.accessories.map((a) => `accessory ${a.name}`)];
  if (users.length === 0) return [result('docker', 'skip', 'the app runs as processes: no container services or accessories need an engine')];
  const timeoutMs = o.timeoutMs ?? ENGINE_TIMEOUT_MS;
  let socketPath: string;
  try {
    socketPath = o.socketPath ?? engineSocketPath(o.env);
  } catch (error) {
    const e = error as SlipwayError;
    return [result('docker', 'fail', e.message, e.hint ?? 'unset DOCKER_HOST')];
  }
  let info: EngineInfo;
  let apiVersion: string | undefined;
  try {
    const client = await withinTime(connectEngine({ socketPath }), timeoutMs, `the Docker engine on ${socketPath}`);
    const [version, engineInfo] = await withinTime(Promise.all([client.version(), client.info() as Promise<EngineInfo>]), timeoutMs, `the Docker engine on ${socketPath}`);
    info = engineInfo;
    apiVersion = version.ApiVersion;
  } catch (error) {
    const reason = error instanceof SlipwayError ? error.message : `no Docker engine answers on ${socketPath}: ${errorText(error)}`;
    return [result('docker', 'fail', `${reason}; ${users.join(', ')} need${users.length === 1 ? 's' : ''} it`, startFix(socketPath))];
  }

  const version = info.ServerVersion ?? 'unknown';
  const driver = info.Driver ?? 'unknown';
  const detail = `Docker ${version} (API ${apiVersion ?? 'unknown'}) on ${socketPath}, storage driver ${driver}`;
  const checks: DoctorCheck[] = [];
  const major = Number(/^(\d+)/.exec(version)?.[1] ?? NaN);
  if (!(major >= OLDEST_TESTED_MAJOR)) {
    checks.push(result('docker', 'warn', `${detail}: older than ${OLDEST_TESTED_MAJOR}.10, which slipway is tested with`, `upgrade the engine to ${OLDEST_TESTED_MAJOR}.10 or newer (your distribution's docker.io package)`));
  } else if (driver === 'vfs') {
    checks.push(result('docker', 'warn', `${detail}: vfs copies every image layer in full, so each release costs its whole image in disk and time`, 'run the engine with overlay2 (`"storage-driver": "overlay2"` in /etc/docker/daemon.json, then restart it)'));
  } else {
    checks.push(result('docker', 'ok', detail));
  }
  checks.push(await checkImageSpace({ rootDir: info.DockerRootDir, warnBelow: o.warnBelowBytes ?? DOCKER_DISK_WARN_BYTES, failBelow: o.failBelowBytes ?? DOCKER_DISK_FAIL_BYTES }));
  return checks;
}

async function checkImageSpace(o: { rootDir: string | undefined; warnBelow: number; failBelow: number }): Promise<DoctorCheck> {
  const name = 'docker disk';
  if (o.rootDir === undefined || o.rootDir === '') return result(name, 'warn', 'the engine did not say where it keeps images', 'run `docker info` and `docker system df` to see its root folder and what it holds');
  let free: number;
  try {
    free = await freeBytesAt(o.rootDir);
  } catch (error) {
    return result(name, 'warn', `cannot read the free space under ${o.rootDir}, where the engine keeps images: ${errorText(error)}`, 'run `df -h` on that folder as a user who can, and `docker system df`');
  }
  const detail = `${formatBytes(free)} free under ${o.rootDir}, where the engine keeps images`;
  const fix = `free space under ${o.rootDir}: \`slipway prune\` removes old releases and their images; \`docker system df\` shows what else takes it`;
  if (free < o.failBelow) return result(name, 'fail', `${detail}: below ${formatBytes(o.failBelow)}, the next image will not fit`, fix);
  if (free < o.warnBelow) return result(name, 'warn', `${detail}: below ${formatBytes(o.warnBelow)}`, fix);
  return result(name, 'ok', detail);
}
