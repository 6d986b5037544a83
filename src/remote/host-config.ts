/**
 * The project file a remote host runs with. `slipway setup` writes it into the host's
 * root, so every host-scoped command (deploy, status, backup, restore, rollback, logs,
 * verify…) runs there exactly as it does on a local host: one environment of the same
 * name, on `host: local`, with the host's own root, a local store folder and this host's
 * overrides. The app's sections (services, data, migrate, hooks, config keys, upgrade)
 * are copied as they are, so the host's file parses to the same ProjectConfig parts.
 */
import path from 'node:path';
import { Document } from 'yaml';
import { usageError } from '../errors.js';
import type { EnvironmentConfig, HealthCheckConfig, ProjectConfig, StoreConfig, TlsConfig } from '../config/types.js';
import { environmentAccessories } from '../config/environment-accessories.js';
import { offsiteEnabled, offsiteStoreConfig } from '../data/offsite-settings.js';

/** Where setup puts things, relative to the host's root. */
export const REMOTE_HOST_CONFIG_FILE = 'slipway.yml';
export const REMOTE_HOST_STORE_DIR = 'store';
export const REMOTE_HOST_KEYS_DIR = 'keys';
export const REMOTE_HOST_DATA_COPY_DIR = 'data-copy';

export interface RemoteHostSpec {
  /** the host's name (slipway.yml `hosts:` key): its hostname in status reports */
  name: string;
  /** absolute folder on the host */
  root: string;
  /** this host's proxy port and address, when not the environment's */
  port?: number;
  bind?: string;
  /** which of the release's services this host runs (absent: all) */
  services?: string[];
}

export interface RemoteHostConfig {
  /** the text of <root>/slipway.yml */
  yaml: string;
  /** public keys to copy next to it: `from` as written in the project (relative to its slipway.yml), `to` relative to the host's root */
  publicKeyFiles: { from: string; to: string }[];
  /** data_copy's scrub SQL file to copy next to it (same `from`/`to` as the keys); null without data_copy or with no_scrub */
  scrubFile: { from: string; to: string } | null;
}

/**
 * The slipway.yml a remote host runs with. No build (the host never builds), no signing
 * key, no pull and no management API: the CLI drives the host over SSH. Its store is a
 * local folder (releases come over SSH); its off-site copies go to the environment's S3
 * store (see hostOffsite).
 */
export function renderRemoteHostConfig(options: { project: ProjectConfig; environment: EnvironmentConfig; host: RemoteHostSpec }): RemoteHostConfig {
  const { project, environment, host } = options;
  checkHost(project, host);
  const publicKeyFiles = keyDestinations(environment.publicKeys);
  const scrubFile = environment.dataCopy?.scrubFile === undefined ? null : { from: environment.dataCopy.scrubFile, to: `${REMOTE_HOST_DATA_COPY_DIR}/${path.posix.basename(environment.dataCopy.scrubFile.replace(/\\/g, '/'))}` };

  const env: Record<string, unknown> = {
    host: 'local',
    root: host.root,
    port: host.port ?? environment.port,
    bind: host.bind ?? environment.bind,
    store: { type: 'local', path: path.posix.join(host.root, REMOTE_HOST_STORE_DIR) },
    require_signature: environment.requireSignature,
    public_keys: publicKeyFiles.map((file) => file.to),
    retention: {
      releases: environment.retention.releases,
      backups: { ...environment.retention.backups },
    },
    health_window: formatDuration(environment.healthWindowMs),
    drain_timeout: formatDuration(environment.drainTimeoutMs),
    // The host's agent keeps the old release warm: it reads the setting from this file, not the laptop's.
    ...(environment.standby === undefined ? {} : { standby: { window: formatDuration(environment.standby.windowMs), min_memory: environment.standby.minAvailableBytes } }),
    ...(environment.backupKeyEnv === undefined ? {} : { backup_key_env: environment.backupKeyEnv }),
    ...hostOffsite(environment),
    ...(environment.backupSchedule === undefined ? {} : { backup_schedule: environment.backupSchedule }),
    hostname: host.name,
    // Names of the variables holding the registry's credentials, never their values.
    ...(environment.registry === undefined ? {} : { registry: { url: environment.registry.url, ...(environment.registry.usernameEnv === undefined ? {} : { username_env: environment.registry.usernameEnv, password_env: environment.registry.passwordEnv }) } }),
    // The host's own proxy decides whose X-Forwarded-* headers to keep.
    ...(environment.trustedProxies === undefined || environment.trustedProxies.length === 0 ? {} : { trusted_proxies: [...environment.trustedProxies] }),
    ...(host.services === undefined ? {} : { services: [...host.services] }),
    // Each host's agent gets its own certificates, for its own names (hosts.<name>.domains, when there are several): the CA's HTTP-01 check reaches the host the name points at.
    ...renderTls(environment.tls, environment.hosts.find((h) => h.name === host.name)?.domains),
    // The host's agent runs the copy schedule; the scrub file is copied next to this file.
    ...(environment.dataCopy === undefined
      ? {}
      : { data_copy: { from: environment.dataCopy.from, schedule: environment.dataCopy.schedule, ...(scrubFile ? { scrub: scrubFile.to } : { no_scrub: true }) } }),
  };

  const file: Record<string, unknown> = {
    app: project.app,
    services: Object.fromEntries(
      project.services.map((service) => [
        service.name,
        {
          ...(service.command === undefined ? {} : { command: service.command }),
          // The host runs the image its release pins; the file only says that the service is a container.
          ...(service.container === undefined
            ? {}
            : 'build' in service.container
              ? { build: { context: service.container.build.context, dockerfile: service.container.build.dockerfile, ...(service.container.build.target === undefined ? {} : { target: service.container.build.target }), args: { ...service.container.build.args } } }
              : { image: service.container.image }),
          port_env: service.portEnv,
          ...(Object.keys(service.env).length === 0 ? {} : { env: { ...service.env } }),
          health: renderHealth(service.health),
        },
      ]),
    ),
  };
  if (project.data.databases.length > 0 || project.data.folders.length > 0) {
    file.data = {
      ...(project.data.databases.length === 0
        ? {}
        : {
            databases: Object.fromEntries(
              project.data.databases.map((db) => [
                db.name,
                db.engine === 'sqlite' ? { engine: 'sqlite', path: db.path } : { engine: db.engine, url_env: db.urlEnv, ...(db.accessory === undefined ? {} : { accessory: db.accessory }) },
              ]),
            ),
          }),
      ...(project.data.folders.length === 0 ? {} : { folders: [...project.data.folders] }),
    };
  }
  if (project.accessories.length > 0) {
    // The host starts its accessories itself (`slipway accessory start` is run there), as this environment runs them.
    file.accessories = Object.fromEntries(
      environmentAccessories(project.accessories, environment).map((a) => [
        a.name,
        {
          image: a.image,
          volumes: a.volumes.map((v) => `${v.kind === 'folder' ? `./${v.source}` : v.source}:${v.target}`),
          ...(Object.keys(a.env).length === 0 ? {} : { env: { ...a.env } }),
          ...(a.secrets.length === 0 ? {} : { secrets: [...a.secrets] }),
          ...(a.port === undefined ? {} : { port: a.port }),
          ...(a.command === undefined ? {} : { command: [...a.command] }),
        },
      ]),
    );
  }
  if (project.migrate !== null) {
    file.migrate = { command: project.migrate.command, reversible: project.migrate.reversible, timeout: formatDuration(project.migrate.timeoutMs) };
  }
  if (project.hooks.length > 0) {
    file.hooks = Object.fromEntries(project.hooks.map((hook) => [`${hook.when}_${hook.step}`, [...hook.commands]]));
  }
  if (project.config.length > 0) {
    file.config = Object.fromEntries(
      project.config.map((key) => [
        key.name,
        {
          required: key.required,
          secret: key.secret,
          ...(key.default === undefined ? {} : { default: key.default }),
          ...(key.description === undefined ? {} : { description: key.description }),
        },
      ]),
    );
  }
  file.environments = { [environment.name]: env, ...copySourceEnvironment(project, environment, host) };
  if (project.upgrade !== undefined) file.upgrade = { from: project.upgrade.from };

  const doc = new Document(file);
  doc.commentBefore = [
    ` Written by \`slipway setup\` for host ${host.name} of environment ${environment.name} of ${project.app}.`,
    ' slipway on this host runs with this file; the next setup overwrites it (edit the project\'s slipway.yml instead).',
  ].join('\n');
  return { yaml: doc.toString({ lineWidth: 0 }), publicKeyFiles, scrubFile };
}

/**
 * data_copy's source, as the host's agent finds its backups (agent/copy-source.ts): on another
 * server, so through its off-site copies in its store, decrypted with the key its
 * backup_key_env names. Only what that needs: the host never deploys to it.
 */
function copySourceEnvironment(project: ProjectConfig, environment: EnvironmentConfig, host: RemoteHostSpec): Record<string, unknown> {
  if (environment.dataCopy === undefined) return {};
  const source = project.environments.find((e) => e.name === environment.dataCopy!.from);
  // The project's own checks refuse a data_copy from an unknown environment before setup runs.
  if (source === undefined) return {};
  const server = source.hosts[0]?.ssh ?? source.host;
  if (server === 'local') {
    throw usageError('REMOTE_DATA_COPY_SOURCE_LOCAL', `${environment.name} on host ${host.name} copies ${source.name}'s data, which is on this machine: that host cannot reach it`, {
      hint: `move ${source.name} to a server whose off-site backups reach a store (offsite_store or an S3 store, with backup_key_env), or take data_copy out of environments.${environment.name} in slipway.yml; \`slipway data copy\` copies only between environments on one machine`,
    });
  }
  return {
    [source.name]: {
      host: server,
      // Required by the schema; the host never serves it.
      port: source.port,
      // Where the source's hosts put their off-site copies (hostOffsite), the only place this host reads them.
      store: renderStore(offsiteStoreConfig(source)),
      ...(source.backupKeyEnv === undefined ? {} : { backup_key_env: source.backupKeyEnv }),
    },
  };
}

/**
 * Off-site copies of a host driven over SSH. Its store is a folder on the host, so they go
 * to the environment's off-site store (`offsite_store`, else `store`), as the environment's
 * own settings say (a backup key, offsite_backups not false), when that store is S3: the host
 * reaches it with the S3 credentials of its agent's environment (never written here). A
 * folder store is on the operator's machine, out of the host's reach: copies stay off, and
 * a data copy from this environment on another server says why (agent/copy-source.ts).
 */
function hostOffsite(environment: EnvironmentConfig): Record<string, unknown> {
  const target = offsiteStoreConfig(environment);
  if (!offsiteEnabled(environment) || target.type !== 's3') return { offsite_backups: false };
  return { offsite_backups: true, offsite_store: renderStore(target) };
}

/** A store as the schema reads it back. */
function renderStore(store: StoreConfig): Record<string, unknown> {
  if (store.type === 'local') return { type: 'local', ...(store.path === undefined ? {} : { path: store.path }) };
  return {
    type: 's3',
    bucket: store.bucket,
    ...(store.region === undefined ? {} : { region: store.region }),
    ...(store.endpoint === undefined ? {} : { endpoint: store.endpoint }),
    ...(store.prefix === undefined ? {} : { prefix: store.prefix }),
    force_path_style: store.forcePathStyle,
  };
}

/**
 * The environment's `tls:` as the schema reads it back, with this host's own `domains` when it has
 * them (none: no tls on this host); file paths stay as written (on the host, relative to its root).
 */
function renderTls(tls: TlsConfig | undefined, hostDomains: string[] | undefined): { tls?: Record<string, unknown> } {
  if (tls === undefined) return {};
  const listeners = { port: tls.port, http_port: tls.httpPort, redirect_http: tls.redirectHttp };
  if (tls.kind === 'files') return { tls: { cert_file: tls.certFile, key_file: tls.keyFile, ...listeners } };
  const domains = hostDomains ?? tls.domains;
  if (domains.length === 0) return {};
  return { tls: { domains: [...domains], ...(tls.email === undefined ? {} : { email: tls.email }), acme_directory: tls.acmeDirectory, ...listeners } };
}

function renderHealth(health: HealthCheckConfig): Record<string, unknown> {
  return {
    path: health.path,
    interval: formatDuration(health.intervalMs),
    timeout: formatDuration(health.timeoutMs),
    successes: health.successes,
    deadline: formatDuration(health.deadlineMs),
    ...(health.http === false ? { http: false } : {}),
  };
}

/** Milliseconds as the schema reads them back exactly: 90000 → 90s, 120000 → 2m, 250 → 250ms. */
export function formatDuration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms > 0 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** keys/<basename> for each public key; a second key of the same name becomes keys/<stem>-2<ext>. */
function keyDestinations(publicKeys: string[]): { from: string; to: string }[] {
  const taken = new Set<string>();
  const result: { from: string; to: string }[] = [];
  for (const from of new Set(publicKeys)) {
    const base = path.posix.basename(from.replace(/\\/g, '/'));
    const ext = path.posix.extname(base);
    const stem = base.slice(0, base.length - ext.length);
    let name = base;
    for (let n = 2; taken.has(name); n += 1) name = `${stem}-${n}${ext}`;
    taken.add(name);
    result.push({ from, to: `${REMOTE_HOST_KEYS_DIR}/${name}` });
  }
  return result;
}

function checkHost(project: ProjectConfig, host: RemoteHostSpec): void {
  if (!path.posix.isAbsolute(host.root) || /[\u0000-\u001f\u007f]/.test(host.root)) {
    throw usageError('REMOTE_HOST_ROOT_INVALID', `the root of host ${host.name} must be an absolute folder path on that host, not ${JSON.stringify(host.root)}`, {
      hint: `set hosts.${host.name}.root in slipway.yml to a folder like /srv/slipway`,
    });
  }
  const known = project.services.map((service) => service.name);
  const unknown = (host.services ?? []).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw usageError('REMOTE_HOST_UNKNOWN_SERVICE', `host ${host.name} is to run ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is not a service' : 'are not services'} of ${project.app}`, {
      hint: `services of ${project.app}: ${known.join(', ')} (fix hosts.${host.name}.services in slipway.yml)`,
    });
  }
}
