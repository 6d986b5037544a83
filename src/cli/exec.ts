import { execInCurrentRelease } from '../host/exec-in-release.js';
import { openAnyEnvironment } from './environment.js';
import { createLineSplitter } from '../util/line-splitter.js';
import { closeHosts, connectHosts, selectHosts } from './fleet.js';
import type { CliContext, CommandResult } from './context.js';

interface ExecOptions {
  args: (string | string[])[];
  host?: string;
  config?: string;
}

/**
 * Runs a command in the release an environment serves, with the app's config, on
 * each of its hosts (or the one named by --host); in a one-off container of the web
 * service's image when that service runs as a container. The command's own exit code
 * decides: 0 only when it succeeded everywhere.
 */
export default async function exec(options: ExecOptions, ctx: CliContext): Promise<CommandResult> {
  const env = options.args[0] as string;
  const argv = (options.args[1] as string[] | undefined) ?? [];
  const target = await openAnyEnvironment({ config: options.config, env }, ctx);
  if (!target.remote) {
    const result = await execInCurrentRelease({ layout: target.layout, environment: target.environment.name, argv, processEnv: ctx.env, secrets: target.environment, stdio: 'inherit' });
    if (result.exitCode !== 0) ctx.progress(`${argv[0]} exited with ${result.signal ? `signal ${result.signal}` : `code ${result.exitCode}`}${result.ranIn === 'container' ? ' in its container' : ''}`);
    // slipway's own exit codes are 0, 1 and 2 (the contract): the command's own code is in the line above.
    return { exitCode: result.exitCode === 0 ? 0 : 1 };
  }
  const hosts = selectHosts(target.environment, options.host);
  const remotes = await connectHosts(target.project, target.environment, hosts, ctx);
  let failed = 0;
  try {
    for (const remote of remotes) {
      const prefix = remotes.length > 1 ? `${remote.name} | ` : '';
      // One host: its output as it comes; several: each line marked with its host.
      const lines = createLineSplitter((line) => ctx.writeStdout?.(Buffer.from(`${prefix}${line}\n`)));
      const result = await remote.slipway(['exec', target.environment.name, '--', ...argv], {
        onStderrLine: (line) => ctx.progress(`${prefix}${line}`),
        onStdout: (chunk) => (!prefix && ctx.writeStdout ? ctx.writeStdout(chunk) : lines.push(chunk)),
      });
      lines.end();
      if (result.exitCode !== 0) failed++;
    }
  } finally {
    await closeHosts(remotes);
  }
  if (failed > 0 && remotes.length > 1) ctx.progress(`the command failed on ${failed} of ${remotes.length} hosts`);
  return { exitCode: failed > 0 ? 1 : 0 };
}
