/**
 * Installs or updates slipway on the hosts of a remote environment (what `slipway
 * setup` does): ships the CLI bundle (nothing when the host has this very one),
 * writes the host's project file and public keys, a systemd unit where systemd runs,
 * then runs `slipway doctor` there. Says what it found and did; prints nothing.
 */
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { publicKeyUnreadable } from '../release/sign.js';
import { formatBytes } from '../util/format.js';
import type { CliBundle } from './cli-bundle.js';
import { checkBundleCompatible } from './cli-bundle-compat.js';
import { renderRemoteHostConfig } from './host-config.js';
import { sendCheckedFile } from './host-files.js';
import type { RemoteSlipway } from './remote-slipway.js';
import { manualStartInstructions, renderSystemdUnit, unitNameFor } from './systemd-unit.js';

/** One host after setup: what it has and how its agent is kept running. */
export interface HostSetup {
  host: string;
  root: string;
  bundle: 'sent' | 'present';
  bundleBytes: number;
  agent: 'systemd' | 'manual';
  unit: string | null;
  doctor: 'ok' | 'failed';
  doctorOutput: string;
  /** pid of a running agent still on an older slipway */
  staleAgent: number | null;
  /** how to keep the agent running where there is no systemd */
  instructions?: string;
}

export interface ProvisionOptions {
  /** connected hosts of the environment, in slipway.yml's order */
  remotes: RemoteSlipway[];
  bundle: CliBundle;
  project: LoadedProject;
  environment: EnvironmentConfig;
  /** a line for the operator as each host moves on */
  onProgress?: (line: string) => void;
}

/** Writes a file on the host atomically (temp name, then rename); the script is fixed, the path travels as an argument. */
/**
 * Variables the agent itself needs on the host and no file of slipway's holds (the S3
 * credentials of an off-site store, a backup key): KEY=value lines the operator writes,
 * mode 0600, read by the systemd unit when it exists.
 */
export const AGENT_ENV_FILE = 'agent.env';
const WRITE_FILE = 'mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"';
/** Unpacks the bundle from stdin into cli/<sha>; a finished one has .complete, so a cut transfer is redone. */
const UNPACK_BUNDLE = 'rm -rf "$1.part" && mkdir -p "$1.part" && tar -xzf - -C "$1.part" && touch "$1.part/.complete" && rm -rf "$1" && mv "$1.part" "$1"';
/** Points cli/current at a bundle by renaming a new link over the old one, so it is never missing. */
const SWITCH_CURRENT = 'ln -sfn "$2" "$1.new" && mv -Tf "$1.new" "$1"';

/**
 * Sets up every host at once (each on its own connection); the results come in the
 * order of `remotes`. When any host fails, rejects with one error naming every host
 * that failed and the ones that are set up (running setup again sends nothing a host has).
 */
export async function provisionHosts(o: ProvisionOptions): Promise<HostSetup[]> {
  const { remotes } = o;
  const settled = await Promise.allSettled(
    remotes.map((remote) => {
      o.onProgress?.(`${remote.name}: setting up in ${remote.paths.root}`);
      return provisionHost({ ...o, remote });
    }),
  );
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ host: remotes[i]!.name, error: r.reason as unknown }] : []));
  if (failed.length > 0) {
    const first = failed[0]!.error;
    const done = remotes.filter((r) => !failed.some((f) => f.host === r.name)).map((r) => r.name);
    throw new SlipwayError(first instanceof SlipwayError ? first.code : 'SETUP_FAILED', failed.length === 1 ? (first as Error).message : `setup failed on ${failed.map((f) => f.host).join(', ')}`, {
      hint: `${first instanceof SlipwayError && first.hint ? `${first.hint}; ` : ''}${done.length > 0 ? `${done.join(', ')} ${done.length === 1 ? 'is' : 'are'} set up; ` : ''}run setup again once fixed (it sends nothing a host already has)`,
      details: failed.map((f) => `${f.host}: ${(f.error as Error).message}`),
    });
  }
  return settled.map((r) => (r as PromiseFulfilledResult<HostSetup>).value);
}

/** Sets up one host. */
export async function provisionHost(o: Omit<ProvisionOptions, 'remotes'> & { remote: RemoteSlipway }): Promise<HostSetup> {
  const { remote, bundle, project, environment } = o;
  const { paths } = remote;

  // 1. The host must be able to run this bundle (same Node major, OS and CPU: it carries a native addon).
  const facts = await remote.run(['sh', '-c', 'uname -s; uname -m; command -v node || echo; node --version 2>/dev/null || echo']);
  const [platform = 'unknown', arch = 'unknown', nodePath = '', nodeVersion = ''] = facts.stdout.toString('utf8').split('\n').map((l) => l.trim());
  checkBundleCompatible(bundle, { nodeVersion: nodePath.startsWith('/') && nodeVersion ? nodeVersion : null, arch, platform });

  // The host root first, closed to other users (0750 or tighter): everything slipway keeps there is the app's.
  await check(remote, 'create the host root', await remote.run(['sh', '-c', 'mkdir -p "$1" && chmod g-w,o-rwx "$1"', 'sh', paths.root]));

  // 2. The CLI bundle, unless this exact one is already there.
  const bundleDir = path.posix.join(paths.cliDir, bundle.sha256);
  const present = (await remote.run(['test', '-f', path.posix.join(bundleDir, '.complete')])).exitCode === 0;
  if (!present) {
    o.onProgress?.(`${remote.name}: sending the slipway bundle (${formatBytes(bundle.size)})`);
    await check(remote, 'unpack the slipway bundle', await remote.run(['sh', '-c', UNPACK_BUNDLE, 'sh', bundleDir], { input: createReadStream(bundle.file) }));
  }
  await check(remote, 'switch cli/current', await remote.run(['sh', '-c', SWITCH_CURRENT, 'sh', paths.cliCurrent, bundle.sha256]));

  // 3. The host's own project file, the public keys it checks releases with, data_copy's scrub file.
  const hostConfig = renderRemoteHostConfig({
    project: project.config,
    environment,
    host: {
      name: remote.name,
      root: paths.root,
      ...(remote.host.port === undefined ? {} : { port: remote.host.port }),
      ...(remote.host.bind === undefined ? {} : { bind: remote.host.bind }),
      ...(remote.host.services === undefined ? {} : { services: remote.host.services }),
    },
  });
  for (const key of hostConfig.publicKeyFiles) {
    const text = await fs.readFile(path.resolve(project.dir, key.from)).catch((error: unknown) => {
      throw publicKeyUnreadable({ file: key.from, environment: environment.name, cause: error });
    });
    await check(remote, `write ${key.to}`, await remote.run(['sh', '-c', WRITE_FILE, 'sh', path.posix.join(paths.root, key.to), '644'], { input: text }));
  }
  // data_copy's scrub file before the file naming it: the host's agent never reads a data_copy whose SQL is not there.
  if (hostConfig.scrubFile) await sendCheckedFile(remote, { ...hostConfig.scrubFile, projectDir: project.dir, what: 'the scrub file of data_copy' });
  await check(remote, 'write slipway.yml', await remote.run(['sh', '-c', WRITE_FILE, 'sh', paths.configFile, '644'], { input: hostConfig.yaml }));

  // 4. Keep the agent running: systemd where it runs (and we may write units), else say how.
  const agentCommand = { nodePath, cliPath: paths.cliEntry, configFile: paths.configFile, environment: environment.name, home: paths.root };
  const systemd = (await remote.run(['sh', '-c', 'test -d /run/systemd/system && test -w /etc/systemd/system'])).exitCode === 0;
  let unit: string | null = null;
  let instructions: string | undefined;
  if (systemd) {
    unit = unitNameFor(project.config.app, environment.name);
    await check(remote, `write ${unit}`, await remote.run(['sh', '-c', WRITE_FILE, 'sh', `/etc/systemd/system/${unit}`, '644'], { input: renderSystemdUnit({ ...agentCommand, unitName: unit, environmentFile: path.posix.join(paths.root, AGENT_ENV_FILE) }) }));
    await check(remote, 'systemctl daemon-reload', await remote.run(['systemctl', 'daemon-reload']));
    await check(remote, `systemctl enable --now ${unit}`, await remote.run(['systemctl', 'enable', '--now', unit]));
  } else {
    instructions = manualStartInstructions({ ...agentCommand, logFile: path.posix.join(paths.root, 'logs', 'agent.log') });
  }

  // 5. The host checks itself with the slipway just installed.
  const doctor = await remote.slipway(['doctor', environment.name]);
  // A running agent keeps the code it started with; restarting it stops the app for a moment, so that is the operator's call.
  const status = await remote.slipwayJson<{ agent: { pid: number; cli?: string | null } | null }>(['status', environment.name]).catch(() => null);
  const agentCli = status?.agent?.cli ?? null;
  const staleAgent = agentCli !== null && !agentCli.startsWith(`${bundleDir}/`) ? status!.agent!.pid : null;
  return {
    host: remote.name,
    root: paths.root,
    bundle: present ? 'present' : 'sent',
    bundleBytes: present ? 0 : bundle.size,
    agent: systemd ? 'systemd' : 'manual',
    unit,
    doctor: doctor.exitCode === 0 ? 'ok' : 'failed',
    doctorOutput: `${doctor.stdout}${doctor.stderr}`,
    staleAgent,
    ...(instructions ? { instructions } : {}),
  };
}

async function check(remote: RemoteSlipway, what: string, result: { exitCode: number; stderr: string }): Promise<void> {
  if (result.exitCode === 0) return;
  throw new SlipwayError('SETUP_FAILED', `${remote.name}: could not ${what}: ${result.stderr.trim().split('\n').at(-1) ?? `exit code ${result.exitCode}`}`, {
    hint: `check that the SSH user may write ${remote.paths.root} (or set root: for this host in slipway.yml)`,
  });
}
