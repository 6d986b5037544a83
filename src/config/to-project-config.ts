/** From the file's snake_case shape (schema.ts) to the camelCase ProjectConfig the rest of slipway uses (types.ts). */
import type { ProjectFile } from './schema.js';
import { dataFolders } from './schema-data.js';
import {
  PIPELINE_STEPS,
  type AccessoryConfig,
  type ConfigKeyConfig,
  type DatabaseConfig,
  type EnvironmentConfig,
  type HookConfig,
  type ProjectConfig,
  type RemoteHostConfig,
  type ServiceConfig,
  type StoreConfig,
  type TlsConfig,
} from './types.js';
import { LETS_ENCRYPT_DIRECTORY, type TlsFile } from './schema-tls.js';
import { toDataCopySettings } from './schema-data-copy.js';

/** The host part of ssh://user@host:port, as a host name for messages and status (dots become dashes). */
function sshHostName(url: string): string {
  const host = url.replace(/^ssh:\/\/([^@]*@)?/, '').replace(/:\d+$/, '');
  return host.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'host';
}

function toTlsConfig(tls: TlsFile): TlsConfig {
  const listeners = { port: tls.port, httpPort: tls.http_port, redirectHttp: tls.redirect_http };
  if (tls.domains !== undefined) {
    return { ...listeners, kind: 'acme', domains: [...new Set(tls.domains)], ...(tls.email === undefined ? {} : { email: tls.email }), acmeDirectory: tls.acme_directory ?? LETS_ENCRYPT_DIRECTORY };
  }
  // The schema refuses a file-based tls without both files.
  return { ...listeners, kind: 'files', certFile: tls.cert_file!, keyFile: tls.key_file! };
}

type StoreFile = ProjectFile['environments'][string]['store'];

/** `store:` (and `offsite_store:`, the same mapping) as a StoreConfig. */
function toStoreConfig(store: StoreFile): StoreConfig {
  if (store.type === 's3') {
    return {
      type: 's3',
      // The schema refuses an s3 store without a bucket.
      bucket: store.bucket as string,
      ...(store.region === undefined ? {} : { region: store.region }),
      ...(store.endpoint === undefined ? {} : { endpoint: store.endpoint }),
      ...(store.prefix === undefined ? {} : { prefix: store.prefix }),
      forcePathStyle: store.force_path_style ?? false,
    };
  }
  return { type: 'local', ...(store.path === undefined ? {} : { path: store.path }) };
}

/** From the file's snake_case shape to the camelCase ProjectConfig; maps keyed by name become arrays in file order. */
export function toProjectConfig(file: ProjectFile): ProjectConfig {
  const services: ServiceConfig[] = Object.entries(file.services).map(([name, service]) => ({
    name,
    ...(service.command === undefined ? {} : { command: service.command }),
    portEnv: service.port_env,
    env: service.env,
    health: {
      path: service.health.path,
      intervalMs: service.health.interval,
      timeoutMs: service.health.timeout,
      successes: service.health.successes,
      deadlineMs: service.health.deadline,
      ...(service.health.http === false ? { http: false as const } : {}),
    },
    ...(service.build !== undefined
      ? {
          container: {
            build: {
              context: service.build.context,
              dockerfile: service.build.dockerfile,
              ...(service.build.target === undefined ? {} : { target: service.build.target }),
              args: service.build.args,
            },
          },
        }
      : service.image !== undefined
        ? { container: { image: service.image } }
        : {}),
  }));

  const accessories: AccessoryConfig[] = Object.entries(file.accessories).map(([name, a]) => ({
    name,
    image: a.image,
    volumes: a.volumes,
    env: a.env,
    secrets: a.secrets,
    ...(a.port === undefined ? {} : { port: a.port }),
    ...(a.command === undefined ? {} : { command: a.command }),
  }));

  const databases: DatabaseConfig[] = Object.entries(file.data.databases).map(([name, db]) =>
    db.engine === 'sqlite'
      ? { name, engine: 'sqlite', path: db.path as string }
      : { name, engine: db.engine, urlEnv: db.url_env as string, ...(db.accessory === undefined ? {} : { accessory: db.accessory }) },
  );

  const hooks: HookConfig[] = [];
  for (const step of PIPELINE_STEPS) {
    for (const when of ['before', 'after'] as const) {
      const commands = (file.hooks as Record<string, string[] | undefined>)[`${when}_${step}`];
      if (commands !== undefined && commands.length > 0) hooks.push({ when, step, commands });
    }
  }

  const config: ConfigKeyConfig[] = Object.entries(file.config).map(([name, spec]) => ({
    name,
    required: spec.required,
    secret: spec.secret,
    ...(spec.default === undefined ? {} : { default: spec.default }),
    ...(spec.description === undefined ? {} : { description: spec.description }),
  }));

  const environments: EnvironmentConfig[] = Object.entries(file.environments).map(([name, env]) => {
    const store = toStoreConfig(env.store);
    const hosts: RemoteHostConfig[] = env.hosts
      ? Object.entries(env.hosts).map(([hostName, h]) => ({
          name: hostName,
          ssh: h.ssh,
          ...(h.root === undefined ? {} : { root: h.root }),
          ...(h.port === undefined ? {} : { port: h.port }),
          ...(h.bind === undefined ? {} : { bind: h.bind }),
          ...(h.services === undefined ? {} : { services: h.services }),
          ...(h.domains === undefined ? {} : { domains: [...new Set(h.domains)] }),
          dependsOn: h.depends_on,
        }))
      : env.host !== undefined && env.host !== 'local'
        ? [{ name: sshHostName(env.host), ssh: env.host, ...(env.root === undefined ? {} : { root: env.root }), dependsOn: [] }]
        : [];
    return {
      name,
      host: hosts.length === 0 ? 'local' : (env.host ?? hosts[0]!.ssh),
      hosts,
      ...(env.services === undefined ? {} : { services: env.services }),
      ...(env.root === undefined ? {} : { root: env.root }),
      port: env.port,
      bind: env.bind,
      store,
      ...(env.registry === undefined
        ? {}
        : {
            registry: {
              url: env.registry.url,
              ...(env.registry.username_env === undefined ? {} : { usernameEnv: env.registry.username_env }),
              ...(env.registry.password_env === undefined ? {} : { passwordEnv: env.registry.password_env }),
            },
          }),
      requireSignature: env.require_signature,
      publicKeys: env.public_keys,
      retention: {
        releases: env.retention.releases,
        backups: { ...env.retention.backups },
      },
      healthWindowMs: env.health_window,
      drainTimeoutMs: env.drain_timeout,
      ...(env.standby === undefined ? {} : { standby: env.standby }),
      pull: env.pull ? { intervalMs: env.pull.interval, jitterMs: env.pull.jitter } : null,
      management: env.management ? { bind: env.management.bind, port: env.management.port, secretEnv: env.management.secret_env } : null,
      ...(env.backup_key_env === undefined ? {} : { backupKeyEnv: env.backup_key_env }),
      ...(env.offsite_backups === undefined && env.backup_key_env === undefined ? {} : { offsiteBackups: env.offsite_backups ?? true }),
      ...(env.offsite_store === undefined ? {} : { offsiteStore: toStoreConfig(env.offsite_store) }),
      ...(env.backup_schedule === undefined ? {} : { backupSchedule: env.backup_schedule.trim() }),
      ...(env.hostname === undefined ? {} : { hostname: env.hostname }),
      ...(env.data_copy === undefined ? {} : { dataCopy: toDataCopySettings(env.data_copy) }),
      ...(env.trusted_proxies.length === 0 ? {} : { trustedProxies: env.trusted_proxies }),
      ...(env.accessories === undefined ? {} : { accessoryOverrides: env.accessories }),
      ...(env.tls === undefined ? {} : { tls: toTlsConfig(env.tls) }),
    };
  });

  return {
    app: file.app,
    services,
    accessories,
    build: { commands: file.build.commands, include: file.build.include, exclude: file.build.exclude },
    data: { databases, ...dataFolders(file.data.folders) },
    migrate:
      file.migrate === undefined
        ? null
        : { command: file.migrate.command, reversible: file.migrate.reversible, timeoutMs: file.migrate.timeout },
    hooks,
    config,
    environments,
    signing: file.signing.key === undefined ? {} : { key: file.signing.key },
    ...(file.upgrade === undefined ? {} : { upgrade: { from: file.upgrade.from.trim() } }),
  };
}
