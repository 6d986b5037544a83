import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { ServiceConfig } from '../config/types.js';
import { connectEngine, engineFailure } from '../container/engine.js';
import { SlipwayError } from '../errors.js';
import type { ReleaseManifest } from '../release/manifest.js';
import { containerEnvironment, containerLabels, containerOptions, dataMounts, engineName, imageWorkingDir } from '../runtime/container-spec.js';
import { primaryService } from '../runtime/slots.js';
import { readEnvFile, resolveAppConfig, serviceEnvironment, type SecretSources } from './app-env.js';
import { readInstalledManifest } from './install-release.js';
import type { HostLayout } from './layout.js';

export interface ExecResult {
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** where it ran: the release folder, or a one-off container of the web service's image */
  ranIn: 'process' | 'container';
}

/** after the container stops, how long its last output may take to arrive */
const OUTPUT_DRAIN_MS = 2_000;

/**
 * Runs an operator's command in the release the host serves, with the app's config
 * (env file and defaults) in its environment, as the app's own services get it.
 * The command is an argument array: no shell unless the operator asks for one.
 * When the release's web service runs as a container, the command runs in a one-off
 * container of that image, with the service's environment, data mounts and network.
 */
export async function execInCurrentRelease(o: {
  layout: HostLayout;
  environment: string;
  argv: string[];
  processEnv: NodeJS.ProcessEnv;
  /** the environment's config naming slipway's own secrets, which the command does not get */
  secrets: SecretSources;
  stdio: 'inherit' | 'pipe';
}): Promise<ExecResult> {
  const [command, ...args] = o.argv;
  if (!command) throw new SlipwayError('USAGE', 'name the command to run after --', { exitCode: 2, hint: 'e.g. slipway exec production -- node scripts/report.js' });
  const releaseDir = await fs.realpath(o.layout.currentLink).catch(() => null);
  if (!releaseDir) {
    throw new SlipwayError('NO_CURRENT_RELEASE', `${o.environment} serves no release yet, so there is nowhere to run the command`, { hint: `deploy one first: slipway deploy ${o.environment}` });
  }
  const releaseId = releaseDir.split('/').at(-1)!;
  const manifest = await readInstalledManifest(o.layout, releaseId);
  if (!manifest) throw new SlipwayError('RELEASE_INCOMPLETE', `the current release ${releaseId.slice(0, 12)} has no manifest on this host`, { hint: `check it with \`slipway verify ${o.environment}\`` });
  const { values } = resolveAppConfig({ schema: manifest.runtime.config, envFile: await readEnvFile(o.layout.envFile), processEnv: o.processEnv, secrets: o.secrets });
  const web = primaryService(manifest.runtime.services);
  const environmentOf = (serviceEnv: Record<string, string>) =>
    serviceEnvironment({
      processEnv: o.processEnv,
      secrets: o.secrets,
      appConfig: values,
      serviceEnv,
      extra: { SLIPWAY_ENV: o.environment, SLIPWAY_RELEASE_ID: releaseId, SLIPWAY_VERSION: manifest.version },
    });
  if (web.image !== undefined) {
    // As the web service's container gets it: its own env too (a process's exec never had it).
    const env = containerEnvironment(environmentOf(web.env), o.processEnv);
    const result = await execInContainer({ release: { id: releaseId, manifest }, web: { ...web, image: web.image }, releaseDir, environment: o.environment, argv: o.argv, env, stdio: o.stdio });
    return { ...result, signal: null, ranIn: 'container' };
  }
  const child = spawn(command, args, { cwd: releaseDir, env: environmentOf({}), stdio: o.stdio });
  return await new Promise((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SlipwayError('COMMAND_NOT_FOUND', `cannot run ${command}: ${error.code === 'ENOENT' ? 'no such command' : error.message}`, {
          hint: 'give the command as you would type it in the release folder; use `sh -c "…"` for a shell line',
        }),
      ),
    );
    child.on('exit', (code, signal) => resolve({ exitCode: code ?? 128, signal, ranIn: 'process' }));
  });
}

/**
 * A one-off container of the web service's image (the equivalent of `docker compose run web …`):
 * the terminal's stdin attached (a TTY when stdin is one), its output to ours, its exit code
 * returned, and the container removed afterwards whatever happened.
 */
async function execInContainer(o: {
  release: { id: string; manifest: ReleaseManifest };
  web: ServiceConfig & { image: NonNullable<ServiceConfig['image']> };
  releaseDir: string;
  environment: string;
  argv: string[];
  env: Record<string, string>;
  stdio: 'inherit' | 'pipe';
}): Promise<{ exitCode: number }> {
  const docker = await connectEngine();
  const { manifest } = o.release;
  const imageId = o.web.image.id;
  const workingDir = await imageWorkingDir(docker, { id: imageId, version: manifest.version });
  const mounts = await dataMounts({ releaseDir: o.releaseDir, data: manifest.runtime.data, workingDir });
  const labels = containerLabels({ app: manifest.app, environment: o.environment, releaseId: o.release.id, version: manifest.version, role: 'command', service: o.web.name });
  const attached = o.stdio === 'inherit';
  const tty = attached && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const base = containerOptions({ containerName: engineName(['slipway', manifest.app, o.environment, 'exec', randomBytes(4).toString('hex')]), imageId, env: o.env, labels, mounts });
  let container;
  try {
    // The operator's argv as the container's command, kept after the image's ENTRYPOINT, no shell.
    container = await docker.createContainer({ ...base, Cmd: o.argv, Tty: tty, OpenStdin: attached, StdinOnce: attached, AttachStdin: attached });
  } catch (error) {
    throw engineFailure(`creating a container from the image of ${o.web.name} to run ${o.argv[0]}`, error);
  }
  const stdin = process.stdin;
  const wasRaw = tty ? stdin.isRaw : false;
  // A signal to this command reaches the container (then it is removed), never leaves it running.
  const forward = (signal: NodeJS.Signals) => void container.kill({ signal }).catch(() => undefined);
  const onSigint = () => forward('SIGINT');
  const onSigterm = () => forward('SIGTERM');
  const onResize = () => void container.resize({ h: process.stdout.rows, w: process.stdout.columns }).catch(() => undefined);
  try {
    const stream = await container.attach({ stream: true, stdin: attached, stdout: true, stderr: true, hijack: attached });
    const outputEnded = new Promise<void>((resolve) => {
      stream.once('end', () => resolve());
      stream.once('close', () => resolve());
      stream.once('error', () => resolve());
    });
    if (attached) {
      if (tty) stream.pipe(process.stdout);
      else container.modem.demuxStream(stream, process.stdout, process.stderr);
    } else {
      stream.resume();
    }
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    await container.start();
    if (attached) {
      if (tty) {
        stdin.setRawMode(true);
        onResize();
        process.stdout.on('resize', onResize);
      }
      stdin.pipe(stream);
    }
    const { StatusCode } = (await container.wait({ condition: 'not-running' })) as { StatusCode: number };
    let drain: NodeJS.Timeout | undefined;
    await Promise.race([outputEnded, new Promise<void>((resolve) => (drain = setTimeout(resolve, OUTPUT_DRAIN_MS)))]);
    clearTimeout(drain);
    return { exitCode: StatusCode };
  } catch (error) {
    throw engineFailure(`running ${o.argv[0]} in a container of ${o.web.name}`, error);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    if (attached) {
      stdin.unpipe();
      // The command may end before stdin does: stop reading it, so that this process can exit.
      stdin.pause();
      if (tty) {
        stdin.setRawMode(wasRaw);
        process.stdout.off('resize', onResize);
      }
    }
    await container.remove({ force: true }).catch(() => undefined);
  }
}
