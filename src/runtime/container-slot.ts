/**
 * A container service of a release in a slot, put together from the release: the image its
 * manifest pins, the environment a process of it would get (less the agent's own), its data
 * folders mounted from the host's shared folder, slipway's labels and a name per slot.
 */
import type { ServiceConfig } from '../config/types.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { startContainerService } from './container-service.js';
import { connectEngineWaiting } from './engine-wait.js';
import { containerEnvironment, containerLabels, dataMounts, imageWorkingDir, serviceContainerName } from './container-spec.js';
import type { RestartPolicy } from './restart-policy.js';
import type { SupervisedService } from './supervisor.js';

/** Starts the container of one service of a release in a slot; throws when the engine refuses (DOCKER_*, IMAGE_MISSING, SHARED_LINK_MISSING). */
export async function startSlotContainer(o: {
  service: ServiceConfig & { image: NonNullable<ServiceConfig['image']> };
  slot: string;
  manifest: ReleaseManifest;
  releaseId: string;
  /** the release's folder: its links lead to the shared data folders */
  releaseDir: string;
  environmentName: string;
  env: Record<string, string>;
  logFile: string;
  restart?: RestartPolicy;
}): Promise<SupervisedService> {
  // An engine restarting (a few seconds away) does not fail the start, nor the undo that restarts the old release.
  const docker = await connectEngineWaiting();
  const { manifest, service } = o;
  const workingDir = await imageWorkingDir(docker, { id: service.image.id, version: manifest.version });
  const owner = { app: manifest.app, environment: o.environmentName, releaseId: o.releaseId, version: manifest.version, role: 'service' as const, service: service.name, slot: o.slot };
  return startContainerService({
    docker,
    name: `${service.name}.${o.slot}`,
    containerName: serviceContainerName(owner),
    imageId: service.image.id,
    ...(service.command === undefined ? {} : { command: service.command }),
    env: containerEnvironment(o.env),
    labels: containerLabels(owner),
    mounts: await dataMounts({ releaseDir: o.releaseDir, data: manifest.runtime.data, workingDir }),
    logFile: o.logFile,
    ...(o.restart === undefined ? {} : { restart: o.restart }),
  });
}
