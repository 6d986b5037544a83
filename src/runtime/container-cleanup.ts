/**
 * Containers an agent no longer runs: the service containers a previous agent (killed before it
 * could stop them) left running, its one-off command containers, and the stopped containers of
 * a pruned release. Found by slipway's labels, never by name.
 */
import type { ContainerInfo } from 'dockerode';
import { connectEngine, engineFailure, isNotFound, LABELS, type DockerClient } from '../container/engine.js';

const DEFAULT_GRACE_MS = 10_000;

export interface StaleContainersResult {
  /** running service containers stopped (kept, as every stopped service container is, until their release is pruned) */
  stopped: number;
  /** one-off command containers removed: a migration or hook whose agent died never finishes */
  removed: number;
}

/**
 * At an agent's start, nothing of this app and environment runs yet: a running service container
 * is a leftover of a previous agent. Each is stopped (SIGTERM, then a kill after graceMs), except
 * those of `keepReleaseIds`; leftover command containers are removed.
 * The engine unreachable: DOCKER_UNREACHABLE.
 */
export async function stopStaleContainers(o: { app: string; environment: string; keepReleaseIds?: string[]; graceMs?: number; docker?: DockerClient }): Promise<StaleContainersResult> {
  const docker = o.docker ?? (await connectEngine());
  const keep = new Set(o.keepReleaseIds ?? []);
  const services = await listContainers(docker, { app: o.app, environment: o.environment, role: 'service', running: true });
  const stale = services.filter((c) => !keep.has(c.Labels[LABELS.release] ?? ''));
  const t = Math.ceil((o.graceMs ?? DEFAULT_GRACE_MS) / 1000);
  await Promise.all(stale.map((c) => tolerate304(docker.getContainer(c.Id).stop({ t }), `stopping the container ${nameOf(c)}`)));
  const commands = await listContainers(docker, { app: o.app, environment: o.environment, role: 'command', running: false });
  await Promise.all(commands.map((c) => removeContainer(docker, c)));
  return { stopped: stale.length, removed: commands.length };
}

/** Removes every container (service or command, running or stopped) of a release being pruned; returns how many. */
export async function removeReleaseContainers(o: { app: string; environment: string; releaseId: string; docker?: DockerClient }): Promise<number> {
  const docker = o.docker ?? (await connectEngine());
  const containers = await listContainers(docker, { app: o.app, environment: o.environment, releaseId: o.releaseId, running: false });
  await Promise.all(containers.map((c) => removeContainer(docker, c)));
  return containers.length;
}

/** Containers with these labels; `running: false` lists stopped ones too. */
export async function listContainers(
  docker: DockerClient,
  o: { app: string; environment: string; role?: 'service' | 'command'; releaseId?: string; running: boolean },
): Promise<ContainerInfo[]> {
  const label = [`${LABELS.app}=${o.app}`, `${LABELS.environment}=${o.environment}`];
  if (o.role !== undefined) label.push(`${LABELS.role}=${o.role}`);
  if (o.releaseId !== undefined) label.push(`${LABELS.release}=${o.releaseId}`);
  try {
    return await docker.listContainers({ all: !o.running, filters: { label } });
  } catch (error) {
    throw engineFailure(`listing the containers of ${o.app}/${o.environment}`, error);
  }
}

async function removeContainer(docker: DockerClient, c: ContainerInfo): Promise<void> {
  try {
    await docker.getContainer(c.Id).remove({ force: true });
  } catch (error) {
    if (!isNotFound(error)) throw engineFailure(`removing the container ${nameOf(c)}`, error);
  }
}

/** 304: it stopped on its own meanwhile; 404: it is gone. */
async function tolerate304(call: Promise<unknown>, doing: string): Promise<void> {
  try {
    await call;
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== 304 && !isNotFound(error)) throw engineFailure(doing, error);
  }
}

function nameOf(c: ContainerInfo): string {
  return (c.Names[0] ?? c.Id).replace(/^\//, '');
}
