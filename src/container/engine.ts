/**
 * The Docker engine, through its API (dockerode): loaded only when a command needs
 * containers, so that process-only apps and the CLI's start never pay for it.
 */
import type Docker from 'dockerode';
import { SlipwayError } from '../errors.js';

/** Labels on everything slipway creates: `status`, `logs`, `prune` and recovery find containers by them, never by name. */
export const LABELS = {
  app: 'dev.slipway.app',
  environment: 'dev.slipway.environment',
  service: 'dev.slipway.service',
  slot: 'dev.slipway.slot',
  release: 'dev.slipway.release',
  version: 'dev.slipway.version',
  accessory: 'dev.slipway.accessory',
  /** 'service' (a release's slot), 'command' (a one-off: migration, hook, exec), 'accessory' */
  role: 'dev.slipway.role',
} as const;

export type DockerClient = Docker;

/** Where the engine answers: DOCKER_HOST (unix:// only), else the default socket. */
export function engineSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (host !== undefined && host !== '') {
    if (!host.startsWith('unix://')) {
      throw new SlipwayError('DOCKER_HOST_UNSUPPORTED', `DOCKER_HOST=${host} is not a unix socket`, {
        hint: 'slipway talks to the Docker engine on this machine: unset DOCKER_HOST, or set it to unix:///path/to/docker.sock',
        exitCode: 2,
      });
    }
    return host.slice('unix://'.length);
  }
  return '/var/run/docker.sock';
}

const clients = new Map<string, Docker>();

/** A client for the engine on this machine, checked with a ping; a clear error when nothing answers. */
export async function connectEngine(o: { socketPath?: string } = {}): Promise<Docker> {
  const socketPath = o.socketPath ?? engineSocketPath();
  let client = clients.get(socketPath);
  if (client === undefined) {
    const { default: DockerClass } = await import('dockerode');
    client = new DockerClass({ socketPath });
    clients.set(socketPath, client);
  }
  try {
    await client.ping();
  } catch (error) {
    clients.delete(socketPath);
    throw engineUnreachable(socketPath, error);
  }
  return client;
}

/** The engine, or null when none answers on this machine (for work that needs it only when there is one). */
export async function connectEngineIfAny(): Promise<Docker | null> {
  try {
    return await connectEngine();
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'DOCKER_UNREACHABLE') return null;
    throw error;
  }
}

export function engineUnreachable(socketPath: string, cause: unknown): SlipwayError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new SlipwayError('DOCKER_UNREACHABLE', `the Docker engine does not answer on ${socketPath}: ${reason}`, {
    hint: 'start it (`systemctl start docker`, or `dockerd` by hand) and check that this user may use its socket; `slipway doctor` checks it',
    cause,
  });
}

/** An engine call that failed, said with what slipway was doing; the engine's own message kept (it names the image or container). */
export function engineFailure(doing: string, error: unknown): SlipwayError {
  if (error instanceof SlipwayError) return error;
  const err = error as { statusCode?: number; json?: { message?: string }; message?: string };
  const message = err.json?.message ?? err.message ?? String(error);
  if (err.statusCode === undefined && /ENOENT|ECONNREFUSED|EACCES|socket hang up/.test(message)) return engineUnreachable(engineSocketPath(), error);
  return new SlipwayError('DOCKER_FAILED', `${doing}: ${message.trim()}`, {
    hint: 'the Docker engine refused it; `docker info` and `slipway doctor` say more',
    cause: error,
  });
}

/** True when the engine said "no such image/container/volume". */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}
