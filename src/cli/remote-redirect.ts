import { SlipwayError } from '../errors.js';
import type { EnvironmentConfig, LoadedProject } from '../config/types.js';

/**
 * Thrown by openEnvironment for an environment on remote hosts: main.ts then runs
 * the same command on the hosts over SSH (commands with fleet-wide behaviour, like
 * deploy and status, ask for `openAnyEnvironment` instead).
 */
export class RemoteEnvironmentRedirect extends SlipwayError {
  constructor(
    readonly project: LoadedProject,
    readonly environment: EnvironmentConfig,
  ) {
    super('REMOTE_HOST_UNSUPPORTED', `environment ${environment.name} runs on remote hosts (${environment.hosts.map((h) => h.name).join(', ')}), and this command does not run over SSH`, {
      exitCode: 2,
      hint: `run it on the host itself (ssh there; \`slipway setup ${environment.name}\` installed slipway under the host's root, in cli/current/bin/slipway.js)`,
    });
  }
}

