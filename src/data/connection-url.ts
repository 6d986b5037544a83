/**
 * Reads a database connection URL from the env variable slipway.yml names, and splits
 * the password off so it can travel to the tools in their environment. The password
 * (and the whole URL) is registered for redaction before anything can print it, and
 * every error names the variable, never its value.
 */
import { SlipwayError, registerSecret } from '../errors.js';
import type { DataEnv } from './types.js';

export interface ConnectionUrl {
  /** the variable it came from, for messages */
  urlEnv: string;
  /** the URL without password (safe to pass as an argument) */
  withoutPassword: URL;
  password: string;
  user: string;
  host: string;
  port: string;
  database: string;
  /** query parameters other than the password (sslmode, host=/socket/dir…) */
  params: URLSearchParams;
}

export function readConnectionUrl(o: { urlEnv: string; env: DataEnv; schemes: readonly string[]; example: string }): ConnectionUrl {
  const raw = o.env[o.urlEnv];
  if (raw === undefined || raw.trim() === '') {
    throw new SlipwayError('BACKUP_DB_URL_MISSING', `The environment variable ${o.urlEnv}, which slipway.yml names as the database's connection URL, is not set.`, {
      hint: `Set ${o.urlEnv} in the host's env file (shared/.env), like ${o.example}.`,
      exitCode: 2,
    });
  }
  registerSecret(raw);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw invalid(o, 'it is not a URL');
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!o.schemes.includes(scheme)) throw invalid(o, `its scheme is ${scheme}:, expected ${o.schemes.map((s) => `${s}:`).join(' or ')}`);

  const params = new URLSearchParams(url.search);
  let password = safeDecode(url.password);
  if (params.has('password')) {
    password = params.get('password') ?? '';
    params.delete('password');
  }
  registerSecret(password);
  const database = safeDecode(url.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/')) throw invalid(o, 'it names no database (the path after the host, like /app)');

  const withoutPassword = new URL(url.href);
  withoutPassword.password = '';
  withoutPassword.search = params.toString();
  return {
    urlEnv: o.urlEnv,
    withoutPassword,
    password,
    user: safeDecode(url.username),
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port,
    database,
    params,
  };
}

/** The same server and credentials, another database (the scratch database of a verify). */
export function withDatabase(url: URL, database: string): URL {
  const copy = new URL(url.href);
  copy.pathname = `/${encodeURIComponent(database)}`;
  return copy;
}

function invalid(o: { urlEnv: string; example: string }, why: string): SlipwayError {
  return new SlipwayError('BACKUP_DB_URL_INVALID', `The environment variable ${o.urlEnv} does not hold a usable connection URL: ${why}.`, {
    hint: `Set ${o.urlEnv} to a URL like ${o.example} (percent-encode special characters in the password).`,
    exitCode: 2,
  });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
