import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError, usageError } from '../errors.js';
import { slipwayHome } from '../paths.js';
import { checkBundleCompatible, createCliBundle, installDirOfThisSlipway, type CliBundle } from '../remote/cli-bundle.js';
import { renderRemoteHostConfig } from '../remote/host-config.js';
import { manualStartInstructions, renderSystemdUnit, unitNameFor } from '../remote/systemd-unit.js';
import type { RemoteSlipway } from '../remote/remote-slipway.js';
import type { LoadedProject, EnvironmentConfig } from '../config/types.js';
import { openAnyEnvironment } from './environment.js';
import { closeHosts, connectHosts, selectHosts } from './fleet.js';
import { formatBytes } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface SetupOptions {
  args: string[];
  host?: string;
  json?: boolean;
  config?: string;
}

interface HostSetup {
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
  instructions?: string;
}

/** Writes a file on the host atomically (temp name, then rename); the script is fixed, the path travels as an argument. */
const WRITE_FILE = 'mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv -f "$1.tmp" "$1"';
/** Unpacks the bundle from stdin into cli/<sha>; a finished one has .complete, so a cut transfer is redone. */
const UNPACK_BUNDLE = 'rm -rf "$1.part" && mkdir -p "$1.part" && tar -xzf - -C "$1.part" && touch "$1.part/.complete" && rm -rf "$1" && mv "$1.part" "$1"';
/** Points cli/current at a bundle by renaming a new link over the old one, so it is never missing. */
const SWITCH_CURRENT = 'ln -sfn "$2" "$1.new" && mv -Tf "$1.new" "$1"';

/**
 * Installs or updates slipway on every host of a remote environment: ships this
 * CLI (nothing when the host has the same bundle), writes the host's project file
 * and public keys, a systemd unit where systemd runs, then runs `slipway doctor` there.
 */
export default async function setup(options: SetupOptions, ctx: CliContext): Promise<CommandResult> {
  const target = await openAnyEnvironment({ config: options.config, env: options.args[0] }, ctx);
  if (!target.remote) {
    throw usageError('SETUP_LOCAL', `${target.environment.name} runs on this machine: there is nothing to set up`, { hint: `deploy with \`slipway deploy ${target.environment.name}\`; the agent starts by itself` });
  }
  const { project, environment } = target;
  const hosts = selectHosts(environment, options.host);
  const bundle = await createCliBundle({ installDir: installDirOfThisSlipway(), cacheDir: path.join(slipwayHome(ctx.env), 'cache', 'bundles') });
  ctx.progress(`slipway ${bundle.version} bundle: ${formatBytes(bundle.size)} (sha256 ${bundle.sha256.slice(0, 12)})`);
  const remotes = await connectHosts(project, environment, hosts, ctx);
  let results: HostSetup[];
  try {
    // Hosts are independent here: all at once (each on its own connection), reported in slipway.yml's order.
    const settled = await Promise.allSettled(
      remotes.map((remote) => {
        ctx.progress(`${remote.name}: setting up in ${remote.paths.root}`);
        return setupHost({ remote, bundle, project, environment }, ctx);
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
    results = settled.map((r) => (r as PromiseFulfilledResult<HostSetup>).value);
  } finally {
    await closeHosts(remotes);
  }
  const ok = results.every((r) => r.doctor === 'ok');
  if (options.json) return { ...jsonOutput(results), exitCode: ok ? 0 : 1 };
  const lines: string[] = [];
  let instructionsShown = false;
  for (const r of results) {
    const manual = instructionsShown ? 'no systemd on this host: it starts with the first deploy; keep it running as shown above (with this host\'s paths)' : 'no systemd on this host: it starts with the first deploy; to keep it running:';
    lines.push(
      `${r.host}: slipway ${bundle.version} in ${r.root} (${r.bundle === 'sent' ? `bundle sent, ${formatBytes(r.bundleBytes)}` : 'already installed'})`,
      `  agent   ${r.agent === 'systemd' ? `systemd unit ${r.unit} enabled and started` : manual}`,
    );
    // The same instructions for every host would bury the rest; --json has each host's.
    if (r.instructions && !instructionsShown) {
      lines.push(...r.instructions.split('\n').map((l) => `    ${l}`));
      instructionsShown = true;
    }
    if (r.staleAgent !== null) {
      lines.push(`  note    the running agent (pid ${r.staleAgent}) still runs the slipway it started with; it runs this one after a restart (${r.unit ? `systemctl restart ${r.unit}` : `slipway agent --stop --host ${r.host}, then start it as shown above`}), which stops the app for a moment`);
    }
    lines.push(`  doctor  ${r.doctor}`);
    if (r.doctor !== 'ok') lines.push(...r.doctorOutput.trimEnd().split('\n').map((l) => `    ${l}`));
  }
  return { stdout: lines.join('\n'), exitCode: ok ? 0 : 1 };
}

async function setupHost(o: { remote: RemoteSlipway; bundle: CliBundle; project: LoadedProject; environment: EnvironmentConfig }, ctx: CliContext): Promise<HostSetup> {
  const { remote, bundle, project, environment } = o;
  const { paths } = remote;

  // 1. The host must be able to run this bundle (same Node major, OS and CPU: it carries a native addon).
  const facts = await remote.run(['sh', '-c', 'uname -s; uname -m; command -v node || echo; node --version 2>/dev/null || echo']);
  const [platform = 'unknown', arch = 'unknown', nodePath = '', nodeVersion = ''] = facts.stdout.toString('utf8').split('\n').map((l) => l.trim());
  checkBundleCompatible(bundle, { nodeVersion: nodePath.startsWith('/') && nodeVersion ? nodeVersion : null, arch, platform });

  // 2. The CLI bundle, unless this exact one is already there.
  const bundleDir = path.posix.join(paths.cliDir, bundle.sha256);
  const present = (await remote.run(['test', '-f', path.posix.join(bundleDir, '.complete')])).exitCode === 0;
  if (!present) {
    ctx.progress(`${remote.name}: sending the slipway bundle (${formatBytes(bundle.size)})`);
    await check(remote, 'unpack the slipway bundle', await remote.run(['sh', '-c', UNPACK_BUNDLE, 'sh', bundleDir], { input: createReadStream(bundle.file) }));
  }
  await check(remote, 'switch cli/current', await remote.run(['sh', '-c', SWITCH_CURRENT, 'sh', paths.cliCurrent, bundle.sha256]));

  // 3. The host's own project file and the public keys it checks releases with.
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
      throw new SlipwayError('PUBLIC_KEY_UNREADABLE', `cannot read the public key ${key.from} of ${environment.name}`, { exitCode: 2, cause: error, hint: 'fix public_keys in slipway.yml (paths are relative to it)' });
    });
    await check(remote, `write ${key.to}`, await remote.run(['sh', '-c', WRITE_FILE, 'sh', path.posix.join(paths.root, key.to), '644'], { input: text }));
  }
  await check(remote, 'write slipway.yml', await remote.run(['sh', '-c', WRITE_FILE, 'sh', paths.configFile, '644'], { input: hostConfig.yaml }));

  // 4. Keep the agent running: systemd where it runs (and we may write units), else say how.
  const agentCommand = { nodePath, cliPath: paths.cliEntry, configFile: paths.configFile, environment: environment.name, home: paths.root };
  const systemd = (await remote.run(['sh', '-c', 'test -d /run/systemd/system && test -w /etc/systemd/system'])).exitCode === 0;
  let unit: string | null = null;
  let instructions: string | undefined;
  if (systemd) {
    unit = unitNameFor(project.config.app, environment.name);
    await check(remote, `write ${unit}`, await remote.run(['sh', '-c', WRITE_FILE, 'sh', `/etc/systemd/system/${unit}`, '644'], { input: renderSystemdUnit({ ...agentCommand, unitName: unit }) }));
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
