import { SlipwayError, usageError } from '../errors.js';
import { getEnvironment, loadProject } from '../config/load.js';
import type { EnvironmentConfig } from '../config/types.js';
import { managementHostName, readManagementSecret, signRequest } from '../agent/management-auth.js';
import { ManagementRefusalSchema } from '../agent/api.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';

interface NotifyOptions {
  args: string[];
  url?: string;
  json?: boolean;
  config?: string;
}

const NOTIFY_TIMEOUT_MS = 10_000;

/** `slipway notify <env>`: tells the environment's agent to check its channel now (a signed POST /v1/notify). */
export default async function notify(options: NotifyOptions, ctx: CliContext): Promise<CommandResult> {
  const name = options.args[0];
  if (!name) throw usageError('ENVIRONMENT_REQUIRED', 'name the environment', { hint: 'e.g. `slipway notify production`' });
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  const environment = getEnvironment(project, name);
  if (!environment.management) {
    throw usageError('MANAGEMENT_NOT_CONFIGURED', `the agent of ${name} has no management API`, {
      hint: `add environments.${name}.management: { port: 9090 } to slipway.yml (and restart the agent); without it, agents notice a new release at their next poll`,
    });
  }
  const secret = readManagementSecret({ secretEnv: environment.management.secretEnv, environment: name }, ctx.env);
  const base = options.url ?? managementUrl(environment);
  const target = new URL('/v1/notify', base);
  const body = '{}';
  // Signed for this environment's agent and the Host header fetch will send, so it cannot be replayed to another agent.
  const headers = signRequest({ secret, method: 'POST', path: target.pathname, body, environment: name, host: managementHostName(environment), hostHeader: target.host });

  let response: Response;
  try {
    response = await fetch(target, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new SlipwayError('AGENT_UNREACHABLE', `cannot reach the agent of ${name} at ${target.origin} (${cause})`, {
      hint: 'check that the agent runs with management enabled, that management.bind/port match, and that a firewall lets this machine in (or pass --url)',
      cause: error,
    });
  }
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below by status
  }
  const refusal = ManagementRefusalSchema.safeParse(json);
  const said = refusal.success ? refusal.data : {};
  if (response.status === 401) {
    throw new SlipwayError('MANAGEMENT_UNAUTHORIZED', `the agent of ${name} refused the request (${said.reason ?? 'unauthorized'})`, {
      hint: refusalHint(said.reason, name, environment.management.secretEnv),
    });
  }
  if (!response.ok) {
    throw new SlipwayError('NOTIFY_FAILED', `the agent of ${name} answered HTTP ${response.status}: ${said.error?.message ?? text.slice(0, 200)}`, {
      hint: said.error?.hint ?? 'see the agent log',
    });
  }
  if (options.json) return jsonOutput(json ?? {});
  return { stdout: `told the agent of ${name} at ${target.origin} to check its channel now` };
}

function refusalHint(reason: string | undefined, name: string, secretEnv: string): string {
  if (reason === 'stale-timestamp') return "this machine's clock and the agent's differ by more than a minute: fix the clock (NTP)";
  if (reason === 'wrong-environment' || reason === 'wrong-host') return `that agent serves another environment or host; check --url / environments.${name}.hostname`;
  return `check that $${secretEnv} holds the same secret here and on the agent`;
}

/** Where an environment's management API answers, seen from this machine. */
export function managementUrl(environment: EnvironmentConfig): string {
  const management = environment.management!;
  const wildcard = management.bind === '0.0.0.0' || management.bind === '::';
  const loopback = management.bind === '127.0.0.1' || management.bind === '::1' || management.bind === 'localhost';
  let host: string;
  if (environment.host === 'local') host = wildcard ? '127.0.0.1' : management.bind;
  // A remote agent bound to all addresses (or to loopback behind a proxy) answers at the host's own name.
  else if (wildcard || loopback) host = new URL(environment.host.replace(/^ssh:/, 'http:')).hostname;
  else host = management.bind;
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${shown}:${management.port}`;
}
