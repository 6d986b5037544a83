/**
 * An author's command (a migration, a hook) for a release whose web service is a container:
 * a one-off container of the same image, environment, mounts and network (the equivalent of
 * `docker compose run web manage.py migrate`). Its output is given line by line, it is killed
 * past its time limit, and it is removed afterwards whatever happened.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { ServiceConfig } from '../config/types.js';
import { connectEngine, engineFailure, LABELS, type DockerClient } from '../container/engine.js';
import { SlipwayError } from '../errors.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { createLineSplitter } from '../util/line-splitter.js';
import { connectEngineWaiting, containerEnded, isEngineAway, whileEngineAway } from './engine-wait.js';
import { containerEnvironment, containerLabels, containerOptions, dataMounts, engineName, imageWorkingDir, type BindMount } from './container-spec.js';

/** The lines of output a failure keeps to show. */
const TAIL_LINES = 20;
/** after the container stops, how long its last output may take to arrive */
const OUTPUT_DRAIN_MS = 2_000;

export interface ContainerCommandOptions {
  /** a shell line, run with `sh -c` in the container */
  command: string;
  imageId: string;
  /** the release's whole environment for it (the image's own ENV besides) */
  env: Record<string, string>;
  labels: Record<string, string>;
  mounts: BindMount[];
  /** past this the container is killed */
  timeoutMs: number;
  /** each non-blank line of its output (stdout and stderr), whole */
  onLine?: (line: string) => void;
  docker?: DockerClient;
}

/** Runs the release's command in a one-off container of its web service's image. */
export async function runReleaseCommand(o: {
  release: { id: string; manifest: ReleaseManifest };
  web: ServiceConfig & { image: NonNullable<ServiceConfig['image']> };
  releaseDir: string;
  environmentName: string;
  command: string;
  env: Record<string, string>;
  timeoutMs: number;
  onLine?: (line: string) => void;
}): Promise<void> {
  const docker = await connectEngineWaiting();
  const { manifest } = o.release;
  const workingDir = await imageWorkingDir(docker, { id: o.web.image.id, version: manifest.version });
  await runContainerCommand({
    docker,
    command: o.command,
    imageId: o.web.image.id,
    env: containerEnvironment(o.env),
    labels: containerLabels({ app: manifest.app, environment: o.environmentName, releaseId: o.release.id, version: manifest.version, role: 'command', service: o.web.name }),
    mounts: await dataMounts({ releaseDir: o.releaseDir, data: manifest.runtime.data, workingDir }),
    timeoutMs: o.timeoutMs,
    ...(o.onLine === undefined ? {} : { onLine: o.onLine }),
  });
}

/** Resolves when the command exits 0; rejects with COMMAND_FAILED otherwise, DOCKER_* when the engine fails. */
export async function runContainerCommand(o: ContainerCommandOptions): Promise<void> {
  const docker = o.docker ?? (await connectEngine());
  const app = o.labels[LABELS.app] ?? 'app';
  const name = engineName(['slipway', app, 'command', randomBytes(4).toString('hex')]);
  const tail: string[] = [];
  const onLine = (line: string) => {
    if (line.trim() === '') return;
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    o.onLine?.(line);
  };
  // One splitter per stream: a line cut between two frames of stdout must not take in stderr's.
  const splitters = [createLineSplitter(onLine), createLineSplitter(onLine)];
  const sinks = splitters.map((splitter) => new Writable({ write: (chunk: Buffer, _encoding, done) => (splitter.push(chunk), done()) }));
  let container;
  try {
    container = await docker.createContainer(containerOptions({ containerName: name, imageId: o.imageId, command: o.command, env: o.env, labels: o.labels, mounts: o.mounts }));
  } catch (error) {
    throw engineFailure(`creating a container from the image ${o.imageId} to run \`${o.command}\``, error);
  }
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  try {
    let exitCode: number;
    try {
      const stream = await container.attach({ stream: true, stdout: true, stderr: true });
      container.modem.demuxStream(stream, sinks[0]!, sinks[1]!);
      const outputEnded = new Promise<void>((resolve) => {
        stream.once('end', () => resolve());
        stream.once('close', () => resolve());
        stream.once('error', () => resolve());
      });
      await container.start();
      timer = setTimeout(() => {
        timedOut = true;
        void container.kill().catch(() => undefined);
      }, o.timeoutMs);
      const ended = await containerEnded(container);
      if (ended !== null) throw ended;
      exitCode = (await container.inspect()).State.ExitCode;
      // Its last frames may still be on the way; a stream the engine never ends does not hold the update.
      let drain: NodeJS.Timeout | undefined;
      await Promise.race([outputEnded, new Promise<void>((resolve) => (drain = setTimeout(resolve, OUTPUT_DRAIN_MS)))]);
      clearTimeout(drain);
    } catch (error) {
      throw engineFailure(`running \`${o.command}\` in a container`, error);
    } finally {
      clearTimeout(timer);
    }
    for (const splitter of splitters) splitter.end();
    if (exitCode === 0 && !timedOut) return;
    const how = timedOut ? `was killed (SIGKILL, over its ${o.timeoutMs} ms limit)` : `exited with code ${exitCode}`;
    throw new SlipwayError('COMMAND_FAILED', `\`${o.command}\` ${how}`, {
      details: tail.length > 0 ? ['last output:', ...tail.map((l) => `  ${l}`)] : [],
      hint: 'fix the command (try it in the image: `docker run --rm <image> sh -c …`) and deploy again',
    });
  } finally {
    // A command cut off from its engine may still be running (a migration writing on): it is removed, killed, once the engine answers.
    await whileEngineAway(() => container.remove({ force: true })).catch((error: unknown) => {
      if (isEngineAway(error)) onLine(`the Docker engine did not answer: its container ${name} may still run; the agent's next start removes it`);
    });
  }
}
