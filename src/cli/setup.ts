import path from 'node:path';
import { usageError } from '../errors.js';
import { slipwayHome } from '../paths.js';
import { createCliBundle, installDirOfThisSlipway } from '../remote/cli-bundle.js';
import { provisionHosts, type HostSetup } from '../remote/provision.js';
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

/**
 * Installs or updates slipway on every host of a remote environment: ships this
 * CLI (nothing when the host has the same bundle), writes the host's project file
 * and public keys, a systemd unit where systemd runs, then runs `slipway doctor` there.
 * The work is remote/provision.ts's; this command opens the hosts and reports.
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
    results = await provisionHosts({ remotes, bundle, project, environment, onProgress: (line) => ctx.progress(line) });
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
