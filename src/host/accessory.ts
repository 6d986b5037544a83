/**
 * Accessories: long-lived containers beside the app (a database, a cache, a queue). Unlike a
 * release's services they are never switched: `start` creates the container once and starts
 * that same container ever after, so it keeps its volume, its data and its settings across
 * restarts; a deploy never touches one, and changing its image is a deliberate upgrade, not a
 * side effect of `start`. Each runs with host networking and listens on a loopback port.
 */
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type Docker from 'dockerode';
import type { AccessoryConfig } from '../config/types.js';
import { connectEngine, engineFailure, isNotFound, type DockerClient } from '../container/engine.js';
import { SlipwayError, usageError } from '../errors.js';
import { didYouMean } from '../config/did-you-mean.js';
import { HOST_ROOT_MODE, type HostLayout } from '../host/layout.js';
import { accessoryContainerName, accessoryLabels, accessoryVolumeName, inspectAccessory, type AccessoryOwner, type AccessoryState } from './accessory-container.js';
import { accessoryEnvironment } from './accessory-env.js';
import { accessoryLogLines } from './accessory-logs.js';

/** The host an accessory runs on: the app and environment it belongs to, and the host's folders. */
export interface AccessoryHost {
  app: string;
  environment: string;
  layout: HostLayout;
  /** a client for the engine (default: connectEngine()) */
  docker?: DockerClient;
}

export interface AccessoryStatus {
  name: string;
  container: string;
  state: AccessoryState;
  /** the image slipway.yml names */
  image: string;
  /** the image reference the container was created from (differs from `image` after an edit of slipway.yml) */
  containerImage: string | null;
  imageId: string | null;
  id: string | null;
  startedAt: string | null;
  /** the exit code of a stopped container */
  exitCode: number | null;
  port: number | null;
  /** whether something accepts connections on 127.0.0.1:port now (null: no port configured) */
  answering: boolean | null;
  /** differences between the container and slipway.yml that `start` does not apply */
  drift: string[];
}

export interface StartResult extends AccessoryStatus {
  /** what start did: created the container, started the existing one, or found it running */
  action: 'created' | 'started' | 'already running';
}

const DEFAULT_READY_MS = 60_000;
const DEFAULT_STOP_SECONDS = 30;

/** The accessories a command acts on: the one named, or all of slipway.yml's. */
export function pickAccessories(all: AccessoryConfig[], name: string | undefined): AccessoryConfig[] {
  if (all.length === 0) {
    throw usageError('ACCESSORY_NONE', 'slipway.yml declares no accessories', {
      hint: 'declare one under `accessories:`, like db: { image: postgres:16, volumes: [pgdata:/var/lib/postgresql/data], secrets: [POSTGRES_PASSWORD], port: 5432 }',
    });
  }
  if (name === undefined) return all;
  const found = all.find((a) => a.name === name);
  if (found) return [found];
  const names = all.map((a) => a.name);
  throw usageError('ACCESSORY_UNKNOWN', `no accessory named ${name} in slipway.yml${didYouMean(name, names)}`, { hint: `accessories: ${names.join(', ')}` });
}

function ownerOf(host: AccessoryHost, name: string): AccessoryOwner {
  return { app: host.app, environment: host.environment, accessory: name };
}

/**
 * Starts an accessory: creates its volumes and container the first time (its secrets read from
 * the host env file then), else starts the container it already has. Waits until its port
 * answers; fails with its last lines of output when it exits instead.
 */
export async function startAccessory(o: AccessoryHost & { accessory: AccessoryConfig; readyTimeoutMs?: number }): Promise<StartResult> {
  const docker = o.docker ?? (await connectEngine());
  const owner = ownerOf(o, o.accessory.name);
  const name = accessoryContainerName(owner);
  const found = await inspectAccessory(docker, owner);
  let action: StartResult['action'];
  if (found.state !== 'running') await requirePortFree(o);
  if (found.state === 'running') action = 'already running';
  else if (found.state === 'stopped') {
    await docker.getContainer(name).start().catch((error: unknown) => {
      throw engineFailure(`starting the container ${name}`, error);
    });
    action = 'started';
  } else {
    await createAccessory(docker, o);
    action = 'created';
  }
  try {
    await waitUntilReady(docker, { owner, port: o.accessory.port, timeoutMs: o.readyTimeoutMs ?? DEFAULT_READY_MS });
  } catch (error) {
    // A container that never came up once is removed (its volumes stay), so that the next start
    // creates it again from the fixed slipway.yml and env file rather than starting the broken one.
    if (action === 'created' && error instanceof SlipwayError && error.code === 'ACCESSORY_EXITED') {
      await docker.getContainer(name).remove({ v: false }).catch(() => undefined);
    }
    throw error;
  }
  return { ...(await accessoryStatus({ ...o, docker })), action };
}

/** Creates the accessory's volumes (once) and its container from the image slipway.yml names now, and starts it. */
export async function createAccessory(docker: DockerClient, o: AccessoryHost & { accessory: AccessoryConfig }): Promise<void> {
  const { accessory } = o;
  const owner = ownerOf(o, accessory.name);
  // Everything that can be refused is checked before anything is made.
  const env = await accessoryEnvironment({ accessory, environment: o.environment, envFile: o.layout.envFile });
  await requireImage(docker, accessory);
  const mounts: Docker.MountSettings[] = [];
  for (const volume of accessory.volumes) {
    if (volume.kind === 'volume') {
      const source = await ensureVolume(docker, owner, volume.source);
      mounts.push({ Type: 'volume', Source: source, Target: volume.target });
    } else {
      mounts.push({ Type: 'bind', Source: await ensureFolder(o.layout, volume.source), Target: volume.target });
    }
  }
  const name = accessoryContainerName(owner);
  try {
    const container = await docker.createContainer({
      name,
      Image: accessory.image,
      ...(accessory.command === undefined ? {} : { Cmd: accessory.command }),
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Labels: accessoryLabels(owner),
      HostConfig: {
        // Loopback ports on the host, as the app's own processes use: no published ports, no bridge.
        NetworkMode: 'host',
        Mounts: mounts,
        // Comes back when the machine or the engine restarts, unless `accessory stop` stopped it.
        RestartPolicy: { Name: 'unless-stopped' },
      },
    });
    try {
      await container.start();
    } catch (error) {
      // Nothing half-made: a container that could not start is not left behind (its volumes are).
      await container.remove({ v: false }).catch(() => undefined);
      throw error;
    }
  } catch (error) {
    throw engineFailure(`creating the container ${name} of the accessory ${accessory.name}`, error);
  }
}

export async function requireImage(docker: DockerClient, accessory: AccessoryConfig): Promise<void> {
  try {
    await docker.getImage(accessory.image).inspect();
  } catch (error) {
    if (!isNotFound(error)) throw engineFailure(`inspecting the image ${accessory.image}`, error);
    throw new SlipwayError('ACCESSORY_IMAGE_MISSING', `the image ${accessory.image} of the accessory ${accessory.name} is not in the Docker engine; nothing was created`, {
      hint: `put it there first: \`docker pull ${accessory.image}\`, or deploy a release built on a machine whose engine has the image (\`slipway build\` carries an accessory's image and a deploy loads it)`,
      cause: error,
    });
  }
}

/** The environment's named volume, created with slipway's labels the first time; returns its engine name. */
async function ensureVolume(docker: DockerClient, owner: AccessoryOwner, volume: string): Promise<string> {
  const name = accessoryVolumeName(owner, volume);
  try {
    await docker.getVolume(name).inspect();
    return name;
  } catch (error) {
    if (!isNotFound(error)) throw engineFailure(`inspecting the volume ${name}`, error);
  }
  try {
    await docker.createVolume({ Name: name, Labels: accessoryLabels(owner) });
  } catch (error) {
    throw engineFailure(`creating the volume ${name}`, error);
  }
  return name;
}

/** A folder under the host root (0700: a database's files are nobody else's business); returns its absolute path. */
async function ensureFolder(layout: HostLayout, relative: string): Promise<string> {
  const folder = path.resolve(layout.root, relative);
  const rel = path.relative(layout.root, folder);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw usageError('ACCESSORY_FOLDER_OUTSIDE_ROOT', `the accessory folder ./${relative} is not under the host root ${layout.root}`, { hint: 'name a folder like ./accessories/db' });
  }
  try {
    await fs.mkdir(layout.root, { recursive: true, mode: HOST_ROOT_MODE });
    await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new SlipwayError('ACCESSORY_FOLDER_UNWRITABLE', `cannot create ${folder}: ${(error as Error).message}`, {
      hint: `run slipway as the user that owns ${layout.root}`,
      cause: error,
    });
  }
  return folder;
}

/** Until the port answers (or, without a port, a moment of staying up); the container exiting is a failure with its last output. */
export async function waitUntilReady(docker: DockerClient, o: { owner: AccessoryOwner; port: number | undefined; timeoutMs: number }): Promise<void> {
  const deadline = Date.now() + (o.port === undefined ? Math.min(o.timeoutMs, 1_000) : o.timeoutMs);
  for (;;) {
    const { state, info } = await inspectAccessory(docker, o.owner);
    // A container that exits is restarted by the engine (its restart policy) and looks running meanwhile.
    if (state !== 'running' || info?.State?.Restarting === true) {
      const lines = await accessoryLogLines({ docker, owner: o.owner, lines: 20 }).catch(() => []);
      throw new SlipwayError('ACCESSORY_EXITED', `the accessory ${o.owner.accessory} stopped right after it started (exit code ${info?.State?.ExitCode ?? 'unknown'})`, {
        details: lines.length > 0 ? ['its last lines of output:', ...lines] : ['it printed nothing'],
        hint: `fix what its output says, then \`slipway accessory start ${o.owner.environment} ${o.owner.accessory}\` again (its volumes are kept)`,
      });
    }
    if (o.port !== undefined && (await portAnswers(o.port))) return;
    if (Date.now() >= deadline) {
      if (o.port === undefined) return;
      throw new SlipwayError('ACCESSORY_NOT_ANSWERING', `the accessory ${o.owner.accessory} runs but nothing answers on 127.0.0.1:${o.port} after ${Math.round(o.timeoutMs / 1000)} s`, {
        hint: `check that its command makes it listen on that port (host networking: the port in slipway.yml is the one it must open); \`slipway accessory logs ${o.owner.environment} ${o.owner.accessory}\` shows its output`,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Its port must be free before it starts: with host networking, whatever answers there already
 * (another environment's accessory on this machine) would pass for this one, and its data would be
 * taken for this environment's.
 */
export async function requirePortFree(o: AccessoryHost & { accessory: AccessoryConfig }): Promise<void> {
  const { port } = o.accessory;
  if (port === undefined || !(await portAnswers(port))) return;
  throw new SlipwayError('ACCESSORY_PORT_TAKEN', `something already listens on 127.0.0.1:${port}, the port of the accessory ${o.accessory.name}; it was not started, nothing was created`, {
    hint: `each environment on one machine needs its accessory on a port of its own: another environment's ${o.accessory.name} may hold it (\`docker ps --filter label=dev.slipway.accessory=${o.accessory.name}\`); give this environment's a port of its own in slipway.yml, and tell the server inside: \`environments.${o.environment}.accessories.${o.accessory.name}: { port: <another>, env: { PGPORT: "<another>" } }\` (the variable or command its server reads)`,
  });
}

/** True when a TCP connection to 127.0.0.1:port is accepted within a second. */
export function portAnswers(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Stops the accessory's container: the image's stop signal (SIGTERM unless the image says
 * otherwise, as PostgreSQL's says SIGINT, its fast shutdown), then a kill after `timeoutSeconds`.
 * The container and its volume are kept: the next start brings back the same data.
 */
export async function stopAccessory(o: AccessoryHost & { accessory: string; timeoutSeconds?: number }): Promise<{ name: string; action: 'stopped' | 'already stopped' | 'missing'; exitCode: number | null }> {
  const docker = o.docker ?? (await connectEngine());
  const owner = ownerOf(o, o.accessory);
  const found = await inspectAccessory(docker, owner);
  if (found.state === 'missing') return { name: o.accessory, action: 'missing', exitCode: null };
  if (found.state === 'stopped') return { name: o.accessory, action: 'already stopped', exitCode: found.info?.State?.ExitCode ?? null };
  const container = docker.getContainer(accessoryContainerName(owner));
  try {
    await container.stop({ t: o.timeoutSeconds ?? DEFAULT_STOP_SECONDS });
  } catch (error) {
    // 304: it stopped on its own meanwhile.
    if ((error as { statusCode?: number }).statusCode !== 304) throw engineFailure(`stopping the container ${accessoryContainerName(owner)}`, error);
  }
  const after = await inspectAccessory(docker, owner);
  return { name: o.accessory, action: 'stopped', exitCode: after.info?.State?.ExitCode ?? null };
}

/** The accessory's container as it is, against what slipway.yml says. */
export async function accessoryStatus(o: AccessoryHost & { accessory: AccessoryConfig }): Promise<AccessoryStatus> {
  const docker = o.docker ?? (await connectEngine());
  const owner = ownerOf(o, o.accessory.name);
  const { state, info } = await inspectAccessory(docker, owner);
  const containerImage = info?.Config?.Image ?? null;
  const drift: string[] = [];
  if (containerImage !== null && containerImage !== o.accessory.image) {
    drift.push(`runs ${containerImage}; slipway.yml says ${o.accessory.image}: an accessory's image changes only by a deliberate upgrade (backup first), never by start or deploy`);
  }
  const port = o.accessory.port ?? null;
  return {
    name: o.accessory.name,
    container: accessoryContainerName(owner),
    state,
    image: o.accessory.image,
    containerImage,
    imageId: info?.Image ?? null,
    id: info?.Id ?? null,
    startedAt: state === 'running' ? (info?.State?.StartedAt ?? null) : null,
    exitCode: state === 'stopped' ? (info?.State?.ExitCode ?? null) : null,
    port,
    answering: port === null ? null : await portAnswers(port),
    drift,
  };
}
