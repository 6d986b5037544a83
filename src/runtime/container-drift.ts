/**
 * `slipway verify` for container services: a running container is the release only while
 * it runs the release's image and nothing was changed inside it since it started.
 */
import type { ReleaseManifest } from '../release/manifest.js';
import { connectEngine, engineFailure, LABELS } from '../container/engine.js';

export interface ContainerDrift {
  service: string;
  slot: string;
  /** the container's name */
  container: string;
  /** set when the container runs another image than the release pins */
  image?: { running: string; expected: string };
  /** files added (A), changed (C) or deleted (D) inside the container since it started, outside its data mounts */
  changes: { kind: 'A' | 'C' | 'D'; path: string }[];
}

const CHANGE_KINDS = ['C', 'A', 'D'] as const;

/** Paths a container may change without drifting: its data mounts, and scratch space. */
function isExpectedChange(path: string, mounts: string[]): boolean {
  if (path === '/tmp' || path.startsWith('/tmp/') || path === '/run' || path.startsWith('/run/')) return true;
  // The engine's own init (services run with it, so that signals reach the app) is put there at start.
  if (path === '/sbin' || path === '/sbin/docker-init') return true;
  return mounts.some((m) => path === m || path.startsWith(`${m}/`) || m.startsWith(`${path}/`));
}

/** The drift of every running service container of this release; empty when the release runs no containers, or they match. */
export async function containerDrift(o: { app: string; environment: string; releaseId: string; manifest: ReleaseManifest; socketPath?: string }): Promise<ContainerDrift[]> {
  const images = new Map(o.manifest.runtime.services.flatMap((s) => (s.image ? [[s.name, s.image.id] as const] : [])));
  if (images.size === 0) return [];
  const docker = await connectEngine(o.socketPath === undefined ? {} : { socketPath: o.socketPath });
  try {
    const listed = await docker.listContainers({
      filters: {
        label: [`${LABELS.app}=${o.app}`, `${LABELS.environment}=${o.environment}`, `${LABELS.release}=${o.releaseId}`, `${LABELS.role}=service`],
        status: ['running'],
      },
    });
    const drifts: ContainerDrift[] = [];
    for (const info of listed) {
      const service = info.Labels[LABELS.service] ?? '?';
      const expected = images.get(service);
      const container = docker.getContainer(info.Id);
      const inspected = await container.inspect();
      const mounts = [...(inspected.Mounts ?? []).map((m) => m.Destination), ...Object.keys(inspected.HostConfig.Tmpfs ?? {})];
      const changes = ((await container.changes()) ?? [])
        .map((c: { Kind: number; Path: string }) => ({ kind: CHANGE_KINDS[c.Kind] ?? 'C', path: c.Path }))
        .filter((c: { path: string }) => !isExpectedChange(c.path, mounts));
      // A changed folder is listed with the file that changed in it: keep the files only.
      const files = changes.filter((c: { path: string }) => !changes.some((other: { path: string }) => other.path.startsWith(`${c.path}/`)));
      const running = info.ImageID;
      const image = expected !== undefined && running !== expected ? { running, expected } : undefined;
      if (image || files.length > 0) {
        drifts.push({ service, slot: info.Labels[LABELS.slot] ?? '?', container: (info.Names[0] ?? info.Id).replace(/^\//, ''), ...(image ? { image } : {}), changes: files });
      }
    }
    return drifts;
  } catch (error) {
    throw engineFailure('checking the release\'s containers', error);
  }
}
