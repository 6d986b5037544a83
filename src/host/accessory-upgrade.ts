/**
 * Changing an accessory's image: the one deliberate way, never a side effect of `start` or a
 * deploy. The caller takes a verified backup of the databases it runs first; then the running
 * container is stopped and kept aside (renamed), a new one is created from the image slipway.yml
 * names now, on the same volumes, and must answer on its port. If it does not, it is removed and
 * the old container, untouched, is started again on the same volumes.
 */
import type { AccessoryConfig } from '../config/types.js';
import { connectEngine, engineFailure, isNotFound, type DockerClient } from '../container/engine.js';
import { SlipwayError, usageError } from '../errors.js';
import { accessoryLogLines } from './accessory-logs.js';
import { accessoryContainerName, accessoryVolumeName, inspectAccessory, type AccessoryOwner } from './accessory-container.js';
import { createAccessory, requireImage, requirePortFree, stopAccessory, waitUntilReady, type AccessoryHost } from './accessory.js';

const DEFAULT_READY_MS = 60_000;

/** An image as the engine knows it: the reference slipway.yml (or the old container) names, and its id. */
export interface ImageRef {
  image: string;
  imageId: string;
}

export interface UpgradePlan {
  name: string;
  container: string;
  from: ImageRef;
  to: ImageRef;
  /** whether the container runs now (a stopped one is upgraded and started) */
  running: boolean;
  /** the engine's volumes and the host folders the new container gets, as the old one had them */
  volumes: string[];
}

export interface UpgradeResult extends UpgradePlan {
  port: number | null;
}

/** What an upgrade would change; refused when the accessory has no container yet or its image is the same. */
export async function planAccessoryUpgrade(o: AccessoryHost & { accessory: AccessoryConfig }): Promise<UpgradePlan> {
  const docker = o.docker ?? (await connectEngine());
  const owner = ownerOf(o);
  const found = await inspectAccessory(docker, owner);
  if (found.state === 'missing' || !found.info) {
    throw usageError('ACCESSORY_NOT_CREATED', `the accessory ${owner.accessory} has no container yet, so there is nothing to upgrade`, {
      hint: `\`slipway accessory start ${o.environment} ${owner.accessory}\` creates it from ${o.accessory.image}`,
    });
  }
  await requireAsideFree(docker, owner);
  await requireImage(docker, o.accessory);
  const from = { image: found.info.Config.Image, imageId: found.info.Image };
  const to = { image: o.accessory.image, imageId: await imageIdOf(docker, o.accessory.image) };
  // Another reference of the same image (a second tag) is a change of name the operator asked for; the same reference and id is not.
  if (from.image === to.image && from.imageId === to.imageId) {
    throw usageError('ACCESSORY_IMAGE_UNCHANGED', `the accessory ${owner.accessory} already runs ${to.image} (${shortId(to.imageId)}); nothing to upgrade`, {
      hint: `name the new image in slipway.yml (accessories.${owner.accessory}.image), put it in the Docker engine, then run the upgrade again`,
    });
  }
  return {
    name: owner.accessory,
    container: accessoryContainerName(owner),
    from,
    to,
    running: found.state === 'running',
    volumes: o.accessory.volumes.map((v) => (v.kind === 'volume' ? `${accessoryVolumeName(owner, v.source)} (${v.source}) at ${v.target}` : `./${v.source} at ${v.target}`)),
  };
}

/**
 * Replaces the container by one of the new image on the same volumes. On failure the old container
 * is back (started again when it ran) and ACCESSORY_UPGRADE_FAILED says so with the new one's output.
 */
export async function upgradeAccessory(o: AccessoryHost & { accessory: AccessoryConfig; plan: UpgradePlan; readyTimeoutMs?: number; progress?: (line: string) => void }): Promise<UpgradeResult> {
  const docker = o.docker ?? (await connectEngine());
  const owner = ownerOf(o);
  const name = accessoryContainerName(owner);
  const aside = asideName(owner);
  const timeoutMs = o.readyTimeoutMs ?? DEFAULT_READY_MS;
  const port = o.accessory.port ?? null;
  o.progress?.(`stopping ${name} (${o.plan.from.image})…`);
  await stopAccessory({ ...o, docker, accessory: owner.accessory });
  await requirePortFree({ ...o, docker });
  await rename(docker, name, aside);
  try {
    o.progress?.(`creating ${name} from ${o.plan.to.image} on the same volumes…`);
    await createAccessory(docker, { ...o, docker });
    await waitUntilReady(docker, { owner, port: o.accessory.port, timeoutMs });
  } catch (error) {
    const output = await accessoryLogLines({ docker, owner, lines: 20 }).catch(() => [] as string[]);
    await goBack(docker, { owner, aside, wasRunning: o.plan.running, port: o.accessory.port, timeoutMs, failure: error, newOutput: output, plan: o.plan, progress: o.progress });
    const why = error instanceof Error ? error.message : String(error);
    throw new SlipwayError('ACCESSORY_UPGRADE_FAILED', `the accessory ${owner.accessory} did not come up on ${o.plan.to.image}: ${why}; it runs ${o.plan.from.image} again, on the same volumes`, {
      details: output.length > 0 ? ['the new container\'s last lines of output:', ...output] : [],
      hint: `its data is as it was before the upgrade; fix the image (or put the old one back in slipway.yml: accessories.${owner.accessory}.image: ${o.plan.from.image}) and run \`slipway accessory upgrade ${o.environment} ${owner.accessory}\` again`,
      cause: error,
    });
  }
  // The new one answers: the old container goes, its volumes stay (they are the new one's now).
  await docker.getContainer(aside).remove({ v: false }).catch(() => undefined);
  return { ...o.plan, port };
}

/** Puts the old container back under its name and starts it when it ran; says plainly when even that fails. */
async function goBack(
  docker: DockerClient,
  o: { owner: AccessoryOwner; aside: string; wasRunning: boolean; port: number | undefined; timeoutMs: number; failure: unknown; newOutput: string[]; plan: UpgradePlan; progress?: (line: string) => void },
): Promise<void> {
  const name = accessoryContainerName(o.owner);
  o.progress?.(`the new container did not come up: going back to ${o.plan.from.image}…`);
  try {
    await docker.getContainer(name).remove({ force: true, v: false }).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
    await rename(docker, o.aside, name);
    if (!o.wasRunning) return;
    await docker.getContainer(name).start();
    await waitUntilReady(docker, { owner: o.owner, port: o.port, timeoutMs: o.timeoutMs });
  } catch (error) {
    throw new SlipwayError('ACCESSORY_UPGRADE_STUCK', `the accessory ${o.owner.accessory} did not come up on ${o.plan.to.image}, and going back to ${o.plan.from.image} failed too: ${(error as Error).message}`, {
      details: [`the upgrade failed with: ${o.failure instanceof Error ? o.failure.message : String(o.failure)}`, ...(o.newOutput.length > 0 ? ['the new container\'s last lines of output:', ...o.newOutput] : [])],
      hint: `the old container is kept as ${o.aside} (or ${name}), its volumes untouched: \`docker rm -f ${name}; docker rename ${o.aside} ${name}; docker start ${name}\` brings it back; the backup taken before the upgrade holds the data`,
      cause: error,
    });
  }
}

/** The old container's name while the new one is tried. */
function asideName(owner: AccessoryOwner): string {
  return `${accessoryContainerName(owner)}-before-upgrade`;
}

/** A container left aside by an upgrade that never finished is not overwritten by another. */
async function requireAsideFree(docker: DockerClient, owner: AccessoryOwner): Promise<void> {
  const aside = asideName(owner);
  try {
    await docker.getContainer(aside).inspect();
  } catch (error) {
    if (isNotFound(error)) return;
    throw engineFailure(`inspecting the container ${aside}`, error);
  }
  throw new SlipwayError('ACCESSORY_UPGRADE_LEFT_OVER', `a container ${aside} is left from an upgrade of ${owner.accessory} that did not finish; nothing was changed`, {
    hint: `if ${accessoryContainerName(owner)} runs as it should, remove the old one (\`docker rm ${aside}\`) and run the upgrade again`,
  });
}

async function rename(docker: DockerClient, from: string, to: string): Promise<void> {
  try {
    await docker.getContainer(from).rename({ name: to });
  } catch (error) {
    throw engineFailure(`renaming the container ${from} to ${to}`, error);
  }
}

async function imageIdOf(docker: DockerClient, image: string): Promise<string> {
  try {
    return (await docker.getImage(image).inspect()).Id;
  } catch (error) {
    throw engineFailure(`inspecting the image ${image}`, error);
  }
}

function ownerOf(o: AccessoryHost & { accessory: AccessoryConfig }): AccessoryOwner {
  return { app: o.app, environment: o.environment, accessory: o.accessory.name };
}

export function shortId(imageId: string): string {
  return imageId.replace(/^sha256:/, '').slice(0, 12);
}
