/**
 * The commented slipway.yml that `slipway init` writes, and what it can learn from
 * the app's package.json to fill it in.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { usageError } from '../errors.js';
import { PIPELINE_STEPS } from './types.js';

export interface InitTemplateOptions {
  /** must already be a valid app name (see toAppName) */
  app: string;
  startCommand: string;
  buildCommands: string[];
  migrateCommand?: string;
  /** public port of slipway's proxy for the production environment */
  port: number;
}

/** A YAML scalar for a value written by someone else: quoted when needed, always on one line. */
export function scalar(value: string): string {
  const out = stringify(value, { lineWidth: 0 }).trimEnd();
  return out.includes('\n') ? JSON.stringify(value) : out;
}

function list(items: readonly string[], indent: string): string {
  return items.length === 0 ? ' []' : items.map((item) => `\n${indent}- ${scalar(item)}`).join('');
}

export function renderInitTemplate(options: InitTemplateOptions): string {
  const migrate =
    options.migrateCommand === undefined
      ? `# Schema migrations, run once per update while writes are held (a short maintenance
# window). Uncomment when the app has a migration command:
# migrate:
#   command: npm run migrate
#   reversible: false   # true when the previous release still works with the migrated data
#   timeout: 10m
`
      : `# Schema migrations, run once per update while writes are held (a short maintenance
# window). The update takes a verified backup first.
migrate:
  command: ${scalar(options.migrateCommand)}
  # true when the previous release still works with the migrated data; when false,
  # rolling back the code also restores the backup taken before the migration.
  reversible: false
  timeout: 10m
`;

  return `# slipway.yml: how slipway builds, deploys, backs up and rolls back ${options.app}.
# Durations are written like 250ms, 2s, 1m or 1h. Secrets never go in this file:
# they come from the environment or a secrets file with 0600 permissions.

# The app's name: lowercase letters, digits and -. Names its releases and folders.
app: ${scalar(options.app)}

# The app's processes. Each one is started from the release folder with \`sh -c\`,
# told its port through the variable named by port_env, and must pass its health
# check before it gets traffic.
services:
  web:
    command: ${scalar(options.startCommand)}
    port_env: PORT
    # Plain settings for this service (no passwords, tokens or keys here).
    env: {}
    #   NODE_ENV: production
    health:
      path: /healthz      # GET this path; a 2xx answer counts as healthy
      interval: 500ms     # time between checks
      timeout: 2s         # how long one check may take
      successes: 2        # healthy answers in a row needed
      deadline: 30s       # a new release not healthy by then is never switched to

# How a release is built: these commands run, in order, in a clean export of the
# git commit; the result is archived, checksummed and never changed afterwards.
build:
  commands:${list(options.buildCommands, '    ')}
  # Globs of files kept in the release (empty: everything) and files left out.
  include: []
  exclude:
    - ".git/**"

# Data that outlives releases, backed up (and verified) before every update.
# Paths are relative to the host's shared/ folder.
data:
  databases: {}
  #   main: { engine: sqlite, path: data/app.db }
  #   main: { engine: postgres, url_env: DATABASE_URL }   # also: mysql
  folders: []
  #   - uploads

${migrate}
# Commands run before or after a step of the update: before_<step> or after_<step>,
# where step is one of:
#   ${PIPELINE_STEPS.join(', ')}
hooks: {}
#   before_migrate: [npm run check-schema]

# Settings the app reads from its environment; an update stops before changing
# anything when a required one is missing on the host. Secret ones have no default.
config: {}
#   SESSION_SECRET: { required: true, secret: true, description: "signs session cookies" }

${renderEnvironments({ name: 'production', port: options.port })}
# A release that can only be reached from some versions (deploys from older ones are refused):
# upgrade: { from: ">=v2" }

# Signing builds with an ed25519 key (the public half goes in public_keys):
# signing:
#   key: keys/slipway.key
`;
}

/**
 * The variable holding an environment's management secret, one per environment: a
 * request signed for staging must not be accepted by production, and a secret leaked
 * from one environment must not open the others.
 */
export function managementSecretEnv(environment: string): string {
  return `SLIPWAY_MANAGEMENT_SECRET_${environment.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/** The commented `environments:` section with one environment on this machine. */
export function renderEnvironments(options: { name: string; port: number }): string {
  const secretEnv = managementSecretEnv(options.name);
  return `# Where the app runs. Each environment has its own host, releases and backups.
environments:
  ${options.name}:
    host: local           # this machine; or ssh://user@host[:port]
    ${`port: ${options.port}`.padEnd(22)}# public port of slipway's proxy in front of the app
    store: local          # where releases live: local, or { type: s3, bucket: my-bucket }
    require_signature: false
    public_keys: []       # ed25519 public keys accepted when require_signature is true
    retention:
      releases: 5         # releases kept on the host (current and previous always are)
      backups: { last: 10, daily: 7, weekly: 4 }
    health_window: 10s    # watched after a switch; failing in it rolls back
    drain_timeout: 10s    # time the old release gets to finish its requests
    # standby: 10m        # the old release keeps running, unrouted, this long: a rollback is a proxy switch (off: stop it)
    # bind: 127.0.0.1     # address the proxy listens on (slipway does not do TLS: put yours in front, or 0.0.0.0)
    # backup_schedule: "0 3 * * *"      # the agent backs up every day at 03:00 (cron, in quotes)
    # backup_key_env: SLIPWAY_BACKUP_KEY  # 32-byte key (hex/base64) in this env variable: backups are
    #                                     # also copied to the store, encrypted (AES-256-GCM)
    # pull: { interval: 30s }             # the agent follows this environment's channel in the store
    # Signed HTTP API and dashboard. Each environment has its own secret (never one shared by all):
    # management: { port: 9090, secret_env: ${secretEnv} }
    # Several servers instead of host: (then \`slipway setup ${options.name}\` once, and deploy as usual):
    # hosts:
    #   auth: { ssh: ssh://deploy@auth.example.com }
    #   app1: { ssh: ssh://deploy@app1.example.com, depends_on: [auth] }   # updated after auth
`;
}

/**
 * A valid app name from a package name or folder name: `@acme/Notes App` → `notes-app`.
 * Falls back to `app` when nothing usable is left.
 */
export function toAppName(raw: string | undefined): string {
  const base = (raw ?? '').replace(/^@[^/]*\//, '').toLowerCase();
  const name = base.replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '');
  return name === '' ? 'app' : name;
}

export interface PackageScripts {
  name?: string;
  start?: string;
  build?: string;
  migrate?: string;
}

/**
 * Commands for the scripts package.json defines (`npm start`, `npm run build`,
 * `npm run migrate`), so the template runs them through npm rather than copying
 * their text. No package.json: an empty result.
 */
export async function detectPackageScripts(dir: string): Promise<PackageScripts> {
  const file = path.join(dir, 'package.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  let pkg: unknown;
  try {
    pkg = JSON.parse(text);
  } catch (error) {
    throw usageError('PACKAGE_JSON_INVALID', `${file} is not valid JSON`, {
      hint: 'fix package.json, or write slipway.yml by hand',
      cause: error,
    });
  }
  if (pkg === null || typeof pkg !== 'object') return {};
  const { name, scripts } = pkg as { name?: unknown; scripts?: unknown };
  const has = (script: string) =>
    scripts !== null && typeof scripts === 'object' && typeof (scripts as Record<string, unknown>)[script] === 'string';
  return {
    ...(typeof name === 'string' && name !== '' ? { name } : {}),
    ...(has('start') ? { start: 'npm start' } : {}),
    ...(has('build') ? { build: 'npm run build' } : {}),
    ...(has('migrate') ? { migrate: 'npm run migrate' } : {}),
  };
}
