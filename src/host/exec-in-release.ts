import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { SlipwayError } from '../errors.js';
import { readEnvFile, resolveAppConfig, serviceEnvironment, type SecretSources } from './app-env.js';
import { readInstalledManifest } from './install-release.js';
import type { HostLayout } from './layout.js';

/**
 * Runs an operator's command in the release the host serves, with the app's config
 * (env file and defaults) in its environment, as the app's own services get it.
 * The command is an argument array: no shell unless the operator asks for one.
 */
export async function execInCurrentRelease(o: {
  layout: HostLayout;
  environment: string;
  argv: string[];
  processEnv: NodeJS.ProcessEnv;
  /** the environment's config naming slipway's own secrets, which the command does not get */
  secrets: SecretSources;
  stdio: 'inherit' | 'pipe';
}): Promise<{ exitCode: number; signal: NodeJS.Signals | null }> {
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
  const env = serviceEnvironment({
    processEnv: o.processEnv,
    secrets: o.secrets,
    appConfig: values,
    serviceEnv: {},
    extra: { SLIPWAY_ENV: o.environment, SLIPWAY_RELEASE_ID: releaseId, SLIPWAY_VERSION: manifest.version },
  });
  const child = spawn(command, args, { cwd: releaseDir, env, stdio: o.stdio });
  return await new Promise((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SlipwayError('COMMAND_NOT_FOUND', `cannot run ${command}: ${error.code === 'ENOENT' ? 'no such command' : error.message}`, {
          hint: 'give the command as you would type it in the release folder; use `sh -c "…"` for a shell line',
        }),
      ),
    );
    child.on('exit', (code, signal) => resolve({ exitCode: code ?? 128, signal }));
  });
}
