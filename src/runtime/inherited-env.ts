/**
 * The few variables of the agent's own environment an app's process inherits (a container keeps
 * the image's own values of these instead): src/host/app-env.ts composes the rest.
 */
/**
 * What the app's processes take from the agent's environment (for `slipway exec`, the
 * CLI's): the basics a program needs to run as a user of this machine, and nothing that
 * could hold a secret of slipway's or of the operator's shell. Anything else the app needs
 * is named in slipway.yml (a key under `config`, the service's `env`) or set in shared/.env.
 */
export const INHERITED_FROM_AGENT: readonly string[] = [
  'PATH', // where commands are found
  'HOME', // the user's home folder (caches, ~/.npmrc and the like)
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG', // the locale: how text is encoded and sorted
  'LANGUAGE',
  'LC_*', // every locale category (LC_ALL, LC_CTYPE…)
  'TZ', // the time zone
  'TMPDIR', // where temporary files go
  'NODE_EXTRA_CA_CERTS', // a certificate authority the machine trusts (a company proxy, a private CA)
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
];

/** Whether a variable of the agent's environment is one of INHERITED_FROM_AGENT. */
export function isInheritedFromAgent(name: string): boolean {
  return INHERITED_FROM_AGENT.some((entry) => (entry.endsWith('*') ? name.startsWith(entry.slice(0, -1)) : name === entry));
}
