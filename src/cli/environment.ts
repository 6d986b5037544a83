import { SlipwayError } from '../errors.js';
import { getEnvironment, loadProject } from '../config/load.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';
import { defaultHostRoot, hostLayout, type HostLayout } from '../host/layout.js';
import { ensureLocalAgent, agentClient, type AgentClient } from '../agent/control-client.js';
import type { CliContext } from './context.js';
import { RemoteEnvironmentRedirect } from './remote-redirect.js';
import { rememberAgentSocket } from './rollback-fast.js';

export interface OpenedEnvironment {
  project: LoadedProject;
  environment: EnvironmentConfig;
  layout: HostLayout;
}

/** Loads slipway.yml and picks the environment (the only one when none is named). */
export async function openEnvironment(options: { config?: string; env?: string }, ctx: CliContext): Promise<OpenedEnvironment> {
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  let name = options.env;
  if (!name) {
    const names = project.config.environments.map((e) => e.name);
    if (names.length !== 1) {
      throw new SlipwayError('ENVIRONMENT_REQUIRED', 'name the environment', { exitCode: 2, hint: `one of: ${names.join(', ')}` });
    }
    name = names[0]!;
  }
  const environment = getEnvironment(project, name);
  if (environment.hosts.length > 0) throw new RemoteEnvironmentRedirect(project, environment);
  const layout = hostLayout(environment.root ?? defaultHostRoot(project.config.app, environment.name));
  return { project, environment, layout };
}

export type AnyEnvironment = ({ remote: false } & OpenedEnvironment) | { remote: true; project: LoadedProject; environment: EnvironmentConfig };

/** A local environment opened as by openEnvironment, or a remote one described. */
export async function openAnyEnvironment(options: { config?: string; env?: string }, ctx: CliContext): Promise<AnyEnvironment> {
  try {
    return { remote: false, ...(await openEnvironment(options, ctx)) };
  } catch (error) {
    if (error instanceof RemoteEnvironmentRedirect) return { remote: true, project: error.project, environment: error.environment };
    throw error;
  }
}

/** The agent of a local environment, started in the background when none runs. */
export async function connectAgent(opened: OpenedEnvironment, ctx: CliContext): Promise<AgentClient> {
  const { started } = await ensureLocalAgent({
    layout: opened.layout,
    environment: opened.environment.name,
    configFile: opened.project.file,
    cwd: opened.project.dir,
  });
  if (started) ctx.progress(`started the slipway agent for ${opened.environment.name} in the background (log: ${opened.layout.logsDir}/agent.log)`);
  const client = agentClient(opened.layout.agentSocket);
  // Where this agent listens, for the next `rollback <env> --yes` to reach it before the CLI loads (never throws).
  rememberAgentSocket({ cwd: ctx.cwd, environment: opened.environment.name, env: ctx.env, configFile: opened.project.file, socketPath: client.socketPath });
  return client;
}
