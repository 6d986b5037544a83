/**
 * `slipway doctor`: checks of the machine and the host an environment runs on.
 * Each check answers on its own (a failure never stops the others) and says how
 * to fix what fails. Checks only read, except a probe file in the host root that
 * is removed at once.
 *
 * The checks, by what they look at: this machine (disk, Node, clock), the host's
 * folders, the database tools, the Docker engine (container apps only), the agent
 * and its port, the store, the TLS certificates.
 */
export type { CheckStatus, DoctorCheck } from './check-result.js';
export * from './machine-checks.js';
export * from './host-folder-checks.js';
export * from './database-tool-checks.js';
export * from './agent-checks.js';
export * from './store-check.js';
export * from './docker-checks.js';
export * from './tls-checks.js';
