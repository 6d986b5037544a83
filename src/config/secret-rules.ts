/**
 * Secrets are refused in the project file: it lives in the app's repository, so
 * whatever it holds is readable by everyone who can read the code.
 */
import { makeProblem, type ConfigProblem } from './problems.js';
import { forEachScalar, type PathSegment, type YamlSource } from './yaml-source.js';

/** Names that usually hold secrets (case-insensitive substring). */
const SECRET_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL/i;
/**
 * scheme://user:password@ — the user part may be empty (redis://:pw@host). The scheme is
 * capped at 32 characters so that a long value is scanned in linear time, not quadratic.
 */
const URL_WITH_PASSWORD = /[a-z][a-z0-9+.-]{0,31}:\/\/[^\s/@:]*:([^\s@/]+)@/gi;
/** `$TOKEN` or `${TOKEN}`: the password is read from the environment when the command runs, not written here. */
const VARIABLE_REFERENCE = /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$/;

export const SECRETS_ADVICE = 'secrets come from the environment or a secrets file with 0600 permissions, never from slipway.yml';

export function looksLikeSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function hasUrlWithPassword(text: string): boolean {
  for (const match of text.matchAll(URL_WITH_PASSWORD)) {
    if (!VARIABLE_REFERENCE.test(match[1])) return true;
  }
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Never includes the secret value in a message: only where it is and what to do instead. */
export function checkSecrets(options: { source: YamlSource; file: string; data: unknown }): ConfigProblem[] {
  const { source, file, data } = options;
  const problems: ConfigProblem[] = [];
  const reported = new Set<string>();
  const report = (path: PathSegment[], message: string, at: 'value' | 'key' = 'value') => {
    reported.add(JSON.stringify(path));
    problems.push(makeProblem({ source, file, path, message, at }));
  };

  if (isObject(data) && isObject(data.services)) {
    for (const [serviceName, service] of Object.entries(data.services)) {
      if (!isObject(service) || !isObject(service.env)) continue;
      for (const [key, value] of Object.entries(service.env)) {
        if (!looksLikeSecretName(key) || value === null || value === undefined || value === '') continue;
        report(
          ['services', serviceName, 'env', key],
          `\`${key}\` looks like a secret and must not be written here; ${SECRETS_ADVICE} (remove it and set ${key} on the host)`,
        );
      }
    }
  }

  if (isObject(data) && isObject(data.config)) {
    for (const [key, spec] of Object.entries(data.config)) {
      if (!isObject(spec) || spec.secret !== true || !Object.hasOwn(spec, 'default')) continue;
      report(
        ['config', key, 'default'],
        `\`${key}\` is a secret, so it cannot have a default here; ${SECRETS_ADVICE} (remove the default)`,
        'key',
      );
    }
  }

  forEachScalar(source, ({ value, path, isKey }) => {
    if (typeof value !== 'string' || !hasUrlWithPassword(value) || reported.has(JSON.stringify(path))) return;
    report(
      path,
      `contains a URL with a password; ${SECRETS_ADVICE} (keep the URL in an environment variable and name that variable here, e.g. url_env: DATABASE_URL)`,
      isKey ? 'key' : 'value',
    );
  });

  return problems;
}
