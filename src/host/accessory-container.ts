/**
 * What identifies an accessory's container and volumes in the Docker engine: their names
 * (one of each per app, environment and accessory, so production and staging on one machine
 * never share a database) and their labels; and what state the container is in now.
 */
import type Docker from 'dockerode';
import { LABELS, engineFailure, isNotFound, type DockerClient } from '../container/engine.js';
import { SlipwayError } from '../errors.js';

/** Whose accessory: the app and environment of slipway.yml, and the accessory's name there. */
export interface AccessoryOwner {
  app: string;
  environment: string;
  accessory: string;
}

/** The engine accepts [a-zA-Z0-9][a-zA-Z0-9_.-]* as a name. */
function engineName(parts: string[]): string {
  return parts.map((p) => p.replace(/[^A-Za-z0-9_.-]/g, '-')).join('-');
}

/** `slipway-<app>-<env>-<name>` */
export function accessoryContainerName(owner: AccessoryOwner): string {
  return engineName(['slipway', owner.app, owner.environment, owner.accessory]);
}

/** `slipway-<app>-<env>-<volume>`: slipway.yml's `pgdata` names this environment's volume, not one shared with every project on the machine. */
export function accessoryVolumeName(owner: Omit<AccessoryOwner, 'accessory'>, volume: string): string {
  return engineName(['slipway', owner.app, owner.environment, volume]);
}

export function accessoryLabels(owner: AccessoryOwner): Record<string, string> {
  return {
    [LABELS.app]: owner.app,
    [LABELS.environment]: owner.environment,
    [LABELS.accessory]: owner.accessory,
    [LABELS.role]: 'accessory',
  };
}

export type AccessoryState = 'running' | 'stopped' | 'missing';

export interface AccessoryContainer {
  state: AccessoryState;
  /** absent when missing */
  info?: Docker.ContainerInspectInfo;
}

/**
 * The accessory's container as the engine sees it. A container of that name that is not
 * this accessory's (other labels) is refused rather than started or reported as ours.
 */
export async function inspectAccessory(docker: DockerClient, owner: AccessoryOwner): Promise<AccessoryContainer> {
  const name = accessoryContainerName(owner);
  let info: Docker.ContainerInspectInfo;
  try {
    info = await docker.getContainer(name).inspect();
  } catch (error) {
    if (isNotFound(error)) return { state: 'missing' };
    throw engineFailure(`inspecting the container ${name}`, error);
  }
  const labels = info.Config?.Labels ?? {};
  const expected = accessoryLabels(owner);
  const foreign = Object.entries(expected).some(([key, value]) => labels[key] !== value);
  if (foreign) {
    throw new SlipwayError('ACCESSORY_NAME_TAKEN', `the container ${name} exists but is not the accessory ${owner.accessory} of ${owner.app} ${owner.environment} (its labels differ)`, {
      hint: `slipway neither starts nor stops a container it did not create: rename or remove that one (\`docker rm ${name}\`)`,
    });
  }
  return { state: info.State?.Running ? 'running' : 'stopped', info };
}
