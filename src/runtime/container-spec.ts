/**
 * What a container of a release is made of, for a service in a slot and for a one-off command
 * alike: its image, environment, labels, data mounts and network. Both run the same way, so a
 * migration sees exactly what the web service sees.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerCreateOptions } from 'dockerode';
import type { DataConfig } from '../config/types.js';
import { LABELS, engineFailure, isNotFound, type DockerClient } from '../container/engine.js';
import { SlipwayError } from '../errors.js';
import { sharedPaths } from '../release/declared-data.js';
import { isInheritedFromAgent } from './inherited-env.js';
import { shortId } from '../release/manifest.js';

export interface BindMount {
  /** the host's folder (the shared folder the release links to) */
  source: string;
  /** where the container sees it */
  target: string;
}

/** Who a container belongs to: slipway finds its containers by these labels, never by name. */
export interface ContainerOwner {
  app: string;
  environment: string;
  releaseId: string;
  version: string;
  /** 'service' (a release's slot) or 'command' (a migration, a hook) */
  role: 'service' | 'command';
  service?: string;
  slot?: string;
}

export function containerLabels(owner: ContainerOwner): Record<string, string> {
  return {
    [LABELS.app]: owner.app,
    [LABELS.environment]: owner.environment,
    [LABELS.release]: owner.releaseId,
    [LABELS.version]: owner.version,
    [LABELS.role]: owner.role,
    ...(owner.service === undefined ? {} : { [LABELS.service]: owner.service }),
    ...(owner.slot === undefined ? {} : { [LABELS.slot]: owner.slot }),
  };
}

/** `slipway-<app>-<env>-<service>-<slot>-<release>`: one container per release, slot and service, so a start again replaces its own. */
export function serviceContainerName(owner: ContainerOwner & { service: string; slot: string }): string {
  return engineName(['slipway', owner.app, owner.environment, owner.service, owner.slot, shortId(owner.releaseId)]);
}

/** The engine accepts [a-zA-Z0-9][a-zA-Z0-9_.-]* as a name. */
export function engineName(parts: string[]): string {
  return parts.map((p) => p.replace(/[^A-Za-z0-9_.-]/g, '-')).join('-');
}

/**
 * The environment a process of the release would get, less what came from the agent's own
 * environment (PATH, HOME, USER, the locale…): those name the host's paths and user, and the
 * image's own ENV applies instead. A name the app's config or the service's env sets to its own
 * value (not the agent's) stays.
 */
export function containerEnvironment(env: Record<string, string>, agentEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (isInheritedFromAgent(name) && agentEnv[name] === value) continue;
    kept[name] = value;
  }
  return kept;
}

/** The image's working directory: the release's data folders are mounted under it, at their paths in the release. */
export async function imageWorkingDir(docker: DockerClient, image: { id: string; version: string }): Promise<string> {
  try {
    const info = await docker.getImage(image.id).inspect();
    const dir = info.Config?.WorkingDir ?? '';
    return dir === '' ? '/' : dir;
  } catch (error) {
    if (isNotFound(error)) {
      throw new SlipwayError('IMAGE_MISSING', `the image ${shortImageId(image.id)} of ${image.version} is not in the Docker engine`, {
        hint: 'a release\'s images are loaded when it is installed: deploy it again, and check that nothing pruned the engine\'s images (`docker image ls`)',
        cause: error,
      });
    }
    throw engineFailure(`inspecting the image ${shortImageId(image.id)} of ${image.version}`, error);
  }
}

/**
 * The release's data folders (and the folders holding its SQLite databases) as bind mounts: from
 * the host's shared folder each is linked to in the release folder, to the same relative path
 * under the image's working directory. The link is resolved, so the container never sees the
 * release folder itself.
 */
export async function dataMounts(o: { releaseDir: string; data: DataConfig; workingDir: string }): Promise<BindMount[]> {
  const mounts: BindMount[] = [];
  for (const relative of sharedPaths(o.data)) {
    const link = path.join(o.releaseDir, relative);
    const source = await fs.realpath(link).catch(() => null);
    const isDir = source !== null && (await fs.stat(source).then((s) => s.isDirectory(), () => false));
    if (!isDir) {
      throw new SlipwayError('SHARED_LINK_MISSING', `${link} does not lead to a folder of the host's shared data`, {
        hint: 'the release is linked to shared/ when it is installed: deploy it again (an install repairs its links)',
      });
    }
    mounts.push({ source: source!, target: path.posix.join(o.workingDir, relative) });
  }
  return mounts;
}

/**
 * The engine's options for a container of the release. Host networking: the app listens on
 * $PORT on loopback, where the health check and the proxy reach it, as a process does.
 *
 * Stopping must reach the app, not only PID 1: an init (the engine's) runs as PID 1 and, told by
 * TINI_KILL_PROCESS_GROUP, passes SIGTERM to the whole group of its child. `sh -c` does not pass
 * signals on, so with an author's `command` the shell traps TERM and only exits (143) once the
 * app it waits for has finished shutting down.
 */
export function containerOptions(o: {
  containerName: string;
  imageId: string;
  /** a shell line run with `sh -c` (kept after the image's ENTRYPOINT, as a compose file's `command` is); absent: the image's own CMD */
  command?: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  mounts: BindMount[];
}): ContainerCreateOptions {
  const env = { ...o.env, TINI_KILL_PROCESS_GROUP: '1' };
  return {
    name: o.containerName,
    Image: o.imageId,
    ...(o.command === undefined ? {} : { Cmd: ['sh', '-c', `trap 'exit 143' TERM INT\n${o.command}`] }),
    Env: Object.entries(env).map(([name, value]) => `${name}=${value}`),
    Labels: o.labels,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      NetworkMode: 'host',
      Init: true,
      Mounts: o.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: false })),
    },
  };
}

export function shortImageId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
