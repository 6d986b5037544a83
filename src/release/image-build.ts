/**
 * The images of a release's container services, made at `slipway build`: a service with
 * `build:` gets its image built by the engine from the build's clean export of the
 * commit; one with `image:` names an image the engine on this machine already holds.
 * Either way the image is pinned by its id (the sha256 of its config, which lists the
 * digest of every layer) in the manifest, so in the release id and its signature.
 * Hosts never build: they load the pinned image from the store, or pull it by digest from the
 * environment's registry (src/container/registry.ts says why that digest is not in the manifest).
 *
 * Building one commit twice gives the same release id when the engine's build cache
 * answers (it returns the image it built before, same id). Without that cache (another
 * machine, a pruned cache) the new image config carries a new creation time, so a new
 * image id and a new release id, with the same files: the COPY layers themselves come
 * out the same, because the context is sent with the commit's date on every file.
 */
import { imageTag } from '../container/registry.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import type { AccessoryConfig, ReleaseImage, ServiceConfig, ServiceImageBuild } from '../config/types.js';
import { connectEngine, connectEngineIfAny, engineFailure, isNotFound, LABELS, type DockerClient } from '../container/engine.js';
import { SlipwayError, usageError } from '../errors.js';
import { folderContentSource, type ContentSource } from './content-source.js';
import { imageIdHex, saveImageObjects } from '../container/image-save.js';
import { buildContextFilter } from '../container/dockerignore.js';
import { TAG_REFERENCE, type AccessoryImage } from './manifest.js';

const OUTPUT_TAIL_LINES = 20;

/** The images a build made for its container services. */
export interface ReleaseImages {
  /** the services, container ones with `image` set */
  services: ServiceConfig[];
  /** every object of the images (configs and layers): digest → size */
  objects: Map<string, number>;
  /** reads those objects that `knownObjects` did not have (the others are in the store already) */
  source: ContentSource;
  /** the engine's ids of the services' images (each once) */
  ids: string[];
  /** the accessories' images this machine's engine holds, pinned (in slipway.yml's order) */
  accessoryImages: AccessoryImage[];
}

/** The repository slipway tags an app's images with on a build machine and on hosts. */
export function imageRepository(app: string): string {
  return `slipway/${app}`;
}


/**
 * Builds or resolves the image of every container service, pins the image of every
 * accessory the engine holds, and reads each image's objects out of the engine into
 * `workDir` (except those `knownObjects` says the store has; when it has all of an
 * image's, the engine's save is not read at all). Null when no service runs as a
 * container and no accessory's image can be had: the engine is then never asked, or
 * (accessories only) did not answer.
 */
export async function makeReleaseImages(o: {
  app: string;
  version: string;
  services: ServiceConfig[];
  /** slipway.yml `accessories` of the commit: the images the engine holds travel with the release */
  accessories?: AccessoryConfig[];
  exportDir: string;
  /** the commit's date: every file of a build context carries it */
  commitDate: string;
  workDir: string;
  /** digest → size of objects the store already holds */
  knownObjects?: (sha256: string) => number | undefined;
  onOutput?: (line: string) => void;
}): Promise<ReleaseImages | null> {
  const accessories = o.accessories ?? [];
  const containers = o.services.some((service) => service.container);
  if (!containers && accessories.length === 0) return null;
  // A process app built where no engine runs: its accessories' images stay out, the build goes on.
  const engine = containers ? await connectEngine() : await connectEngineIfAny();
  if (engine === null) {
    for (const accessory of accessories) o.onOutput?.(accessoryLeftOut(accessory, 'no Docker engine answers on this machine'));
    return null;
  }
  const objects = new Map<string, number>();
  const pinned = new Map<string, ReleaseImage['layers']>();
  const layersOf = async (id: string) => {
    let layers = pinned.get(id);
    if (!layers) {
      layers = await imageLayers(engine, { id, workDir: o.workDir, objects, knownObjects: o.knownObjects });
      pinned.set(id, layers);
    }
    return layers;
  };
  const services: ServiceConfig[] = [];
  const ids = new Set<string>();
  for (const service of o.services) {
    const container = service.container;
    if (!container) {
      services.push(service);
      continue;
    }
    const made =
      'build' in container
        ? await buildServiceImage(engine, { ...o, service: service.name, build: container.build })
        : await namedImage(engine, { app: o.app, version: o.version, service: service.name, reference: container.image });
    ids.add(made.id);
    services.push({ ...service, image: { id: made.id, layers: await layersOf(made.id), source: made.source } });
  }
  const accessoryImages: AccessoryImage[] = [];
  for (const accessory of accessories) {
    const id = await accessoryImageId(engine, accessory, o.onOutput);
    if (id !== null) accessoryImages.push({ name: accessory.name, reference: accessory.image, id, layers: await layersOf(id) });
  }
  if (!containers && accessoryImages.length === 0) return null;
  return { services, objects, source: folderContentSource(o.workDir), ids: [...ids], accessoryImages };
}

/**
 * The id of the image an accessory names, when this machine's engine holds it; null (said in
 * one line) when it does not, or when the reference is a digest, which a host's engine cannot
 * answer to for an image loaded rather than pulled.
 */
async function accessoryImageId(engine: DockerClient, accessory: AccessoryConfig, onOutput?: (line: string) => void): Promise<string | null> {
  if (!TAG_REFERENCE.test(accessory.image)) {
    onOutput?.(accessoryLeftOut(accessory, 'it is named by digest, which only a registry can answer to'));
    return null;
  }
  try {
    return (await engine.getImage(accessory.image).inspect()).Id;
  } catch (error) {
    if (!isNotFound(error)) throw engineFailure(`inspecting the image ${accessory.image} of the accessory ${accessory.name}`, error);
    onOutput?.(accessoryLeftOut(accessory, 'this machine\'s Docker engine does not have it'));
    return null;
  }
}

function accessoryLeftOut(accessory: AccessoryConfig, why: string): string {
  return `accessory ${accessory.name}: image ${accessory.image} left out of the release (${why}): each host needs it from a registry (\`docker pull ${accessory.image}\` there)`;
}

/** Tags the images of a release with its id (`slipway/<app>:<release id>`), once the id is known. */
export async function tagReleaseImages(o: { app: string; releaseId: string; ids: string[] }): Promise<void> {
  if (o.ids.length === 0) return;
  const engine = await connectEngine();
  for (const id of o.ids) {
    try {
      await engine.getImage(id).tag({ repo: imageRepository(o.app), tag: imageTag(o.releaseId) });
    } catch (error) {
      throw engineFailure(`tagging image ${id.slice(0, 19)}`, error);
    }
  }
}

/** The image's layers (diff ids, sizes), its objects recorded in `objects` and written out when the store lacks them. */
async function imageLayers(engine: DockerClient, o: { id: string; workDir: string; objects: Map<string, number>; knownObjects?: (sha256: string) => number | undefined }): Promise<ReleaseImage['layers']> {
  let diffIds: string[];
  try {
    const info = await engine.getImage(o.id).inspect();
    diffIds = (info.RootFS?.Layers ?? []).map(imageIdHex);
  } catch (error) {
    throw engineFailure(`inspecting image ${o.id.slice(0, 19)}`, error);
  }
  const configHex = imageIdHex(o.id);
  const known = (digest: string) => o.objects.get(digest) ?? o.knownObjects?.(digest);
  if ([configHex, ...diffIds].some((digest) => known(digest) === undefined)) {
    const sizes = await saveImageObjects({ engine, id: o.id, layers: diffIds, dir: o.workDir, skip: (digest) => known(digest) !== undefined });
    for (const [digest, size] of sizes) o.objects.set(digest, size);
  } else {
    for (const digest of [configHex, ...diffIds]) o.objects.set(digest, known(digest)!);
  }
  return diffIds.map((sha256) => ({ sha256, size: o.objects.get(sha256)! }));
}

/** An `image:` service: the reference must name an image the engine holds; it is pinned to its id. */
async function namedImage(engine: DockerClient, o: { app: string; version: string; service: string; reference: string }): Promise<{ id: string; source: string }> {
  let id: string;
  try {
    id = (await engine.getImage(o.reference).inspect()).Id;
  } catch (error) {
    if (!isNotFound(error)) throw engineFailure(`inspecting image ${o.reference}`, error);
    throw usageError('BUILD_IMAGE_NOT_FOUND', `service ${o.service} names image ${o.reference}, which the Docker engine on this machine does not have`, {
      hint: `slipway does not pull from registries yet: run \`docker pull ${o.reference}\` (or build it) on this machine, then build again. The build pins the image the tag names then, by its id; hosts get that image with the release`,
    });
  }
  try {
    await engine.getImage(id).tag({ repo: imageRepository(o.app), tag: imageTag(o.version) });
  } catch (error) {
    throw engineFailure(`tagging image ${o.reference}`, error);
  }
  return { id, source: o.reference };
}

/** A `build:` service: its image built by the engine from the context folder of the export. */
async function buildServiceImage(
  engine: DockerClient,
  o: { app: string; version: string; service: string; build: ServiceImageBuild; exportDir: string; commitDate: string; onOutput?: (line: string) => void },
): Promise<{ id: string; source: string }> {
  const contextDir = path.resolve(o.exportDir, o.build.context);
  const dockerfile = path.posix.normalize(o.build.dockerfile);
  const source = path.posix.join(o.build.context, dockerfile) + (o.build.target ? ` (target ${o.build.target})` : '');
  const inside = path.relative(o.exportDir, contextDir);
  if (inside.startsWith('..') || path.isAbsolute(inside) || dockerfile.startsWith('../') || path.posix.isAbsolute(dockerfile)) {
    throw usageError('BUILD_CONTEXT_INVALID', `service ${o.service}: the build context ${o.build.context} and its Dockerfile ${o.build.dockerfile} must lie inside the project`, {
      hint: 'give build.context relative to the project root, and build.dockerfile relative to the context',
    });
  }
  const names = await fs.readdir(contextDir).catch(() => null);
  if (!names || !(await fs.stat(path.join(contextDir, dockerfile)).then((s) => s.isFile(), () => false))) {
    throw usageError('BUILD_DOCKERFILE_MISSING', `service ${o.service}: ${source} is not in the commit being built`, {
      hint: 'commit the Dockerfile, or fix build.context / build.dockerfile in slipway.yml',
    });
  }
  // The engine reads the context as a tar; every file carries the commit's date, so an unchanged file gives an unchanged layer.
  const sends = await buildContextFilter(contextDir, dockerfile);
  const context = tar.create(
    { cwd: contextDir, portable: true, mtime: new Date(o.commitDate), filter: (entry, stat) => sends(entry, 'isDirectory' in stat && stat.isDirectory()) },
    names.filter((name) => sends(name, false) || sends(name, true)).sort(),
  );
  const tag = `${imageRepository(o.app)}:${imageTag(o.version)}`;
  o.onOutput?.(`building the image of ${o.service} from ${source}`);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await engine.buildImage(context as unknown as NodeJS.ReadableStream, {
      t: tag,
      dockerfile,
      ...(o.build.target ? { target: o.build.target } : {}),
      buildargs: o.build.args,
      labels: { [LABELS.app]: o.app, [LABELS.version]: o.version },
      rm: true,
      forcerm: true,
    });
  } catch (error) {
    throw engineFailure(`building the image of ${o.service}`, error);
  }
  const tail: string[] = [];
  let failure: string | undefined;
  let builtId: string | undefined;
  await new Promise<void>((resolve, reject) => {
    engine.modem.followProgress(
      stream,
      (error) => (error ? reject(engineFailure(`building the image of ${o.service}`, error)) : resolve()),
      (event: { stream?: string; error?: string; errorDetail?: { message?: string }; aux?: { ID?: string } }) => {
        for (const line of (event.stream ?? '').split('\n')) {
          if (line.trim() === '') continue;
          tail.push(line);
          if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
          o.onOutput?.(line);
        }
        if (event.error !== undefined) failure = event.errorDetail?.message ?? event.error;
        if (event.aux?.ID) builtId = event.aux.ID;
      },
    );
  });
  if (failure !== undefined) {
    throw new SlipwayError('BUILD_IMAGE_FAILED', `the image of service ${o.service} did not build (${source}): ${failure.trim()}`, {
      details: [...tail, failure.trim()].slice(-OUTPUT_TAIL_LINES),
      hint: 'Fix the Dockerfile (the builder\'s last output is shown above) and build again; the image is built from a clean export of the commit. Nothing was stored.',
    });
  }
  try {
    return { id: builtId ?? (await engine.getImage(tag).inspect()).Id, source };
  } catch (error) {
    throw engineFailure(`inspecting the image built for ${o.service}`, error);
  }
}
