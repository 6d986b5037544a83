/**
 * The normalized project configuration, as the rest of slipway sees it.
 * `slipway.yml` is written in snake_case; src/config/schema.ts parses it into these shapes
 * (durations become milliseconds, maps keyed by name become arrays with a `name`).
 */
import type { DataCopySettings } from './schema-data-copy.js';

/** Pipeline step names, in order (DESIGN.md, "The update pipeline"). Hooks attach before/after these. */
export const PIPELINE_STEPS = [
  'lock',
  'fetch',
  'preflight',
  'backup',
  'maintenance',
  'migrate',
  'start',
  'switch',
  'watch',
  'finish',
] as const;
export type PipelineStepName = (typeof PIPELINE_STEPS)[number];

export interface HealthCheckConfig {
  /** HTTP path probed with GET, e.g. /healthz */
  path: string;
  intervalMs: number;
  timeoutMs: number;
  /** consecutive 2xx answers needed to call the service healthy */
  successes: number;
  /** how long a new release may take to become healthy */
  deadlineMs: number;
  /**
   * false (`health: false`): the service answers no HTTP check (a queue worker); it is healthy once
   * it has kept running for `successes` × `interval` without exiting. Absent: the HTTP check.
   */
  http?: false;
}

export interface ServiceConfig {
  name: string;
  /**
   * shell command line written by the app's author, run from the release folder (a process), or run with
   * `sh -c` inside the container (a container service; absent: the image's own command)
   */
  command?: string;
  /** environment variable through which the service is told its port */
  portEnv: string;
  env: Record<string, string>;
  health: HealthCheckConfig;
  /** the service runs as a Docker container: built from a Dockerfile, or from a named image (absent: a process) */
  container?: ServiceContainerConfig;
  /** set by `slipway build` in the release's manifest for a container service: the image it runs, pinned */
  image?: ReleaseImage;
}

/** slipway.yml `build:` of a service: the image is built at `slipway build` from the release's clean export. */
export interface ServiceImageBuild {
  /** folder of the export the image is built from (posix, relative to the project root) */
  context: string;
  /** the Dockerfile, relative to the context */
  dockerfile: string;
  target?: string;
  args: Record<string, string>;
}

/** How a container service gets its image: built (`build:`) or named (`image:`); exactly one. */
export type ServiceContainerConfig = { build: ServiceImageBuild } | { image: string };

/**
 * A container service's image as its release pins it. The image id is the sha256 of the image's
 * config, and the config names the digest of every layer (its diff ids): the id pins every byte of
 * the image, and the manifest (so the release id, so its signature) pins the id.
 */
export interface ReleaseImage {
  /** `sha256:<64 hex>`: Docker's image id */
  id: string;
  /** the image's layers, bottom first: sha256 of each uncompressed layer tar (Docker's diff ids) and its size */
  layers: { sha256: string; size: number }[];
  /** what it was built or pulled as (a Dockerfile path, or the image reference named in slipway.yml) */
  source: string;
  /** the registry's manifest digest, when the image came from (or went to) a registry */
  digest?: string;
}

/**
 * slipway.yml `accessories`: long-lived containers that are not switched per release (a database,
 * a cache, a queue), each with its own volume. A deploy never restarts or upgrades one.
 */
export interface AccessoryConfig {
  name: string;
  /** image reference, present on the host (`image:tag` or `image@sha256:…`) */
  image: string;
  /** mounts: a named Docker volume, or a folder under the host root */
  volumes: { kind: 'volume' | 'folder'; source: string; target: string }[];
  env: Record<string, string>;
  /** names of variables whose values come from the environment's host env file (passwords), never from slipway.yml */
  secrets: string[];
  /** the loopback port it listens on (host networking) */
  port?: number;
  /** arguments given to the image's entrypoint (absent: the image's own command) */
  command?: string[];
}

export interface BuildConfig {
  /** commands run in the clean export of the commit, in order */
  commands: string[];
  /** globs of files kept in the release (empty = everything) */
  include: string[];
  /** globs of files left out of the release */
  exclude: string[];
}

export type DatabaseConfig =
  | { name: string; engine: 'sqlite'; /** relative to the host's shared/ folder */ path: string }
  | {
      name: string;
      engine: 'postgres' | 'mysql';
      /** env variable holding the connection URL */
      urlEnv: string;
      /** the accessory (slipway.yml `accessories`) that runs this database, if one does */
      accessory?: string;
    };

export interface DataConfig {
  databases: DatabaseConfig[];
  /** folders of user files, relative to the host's shared/ folder, linked into each release */
  folders: string[];
  /**
   * folders (also in `folders`) that the first deploy fills with what the release
   * ships there, when the shared folder does not exist yet. Absent when none, so
   * that releases of projects without it keep their manifests and ids.
   */
  seed?: string[];
}

export interface MigrateConfig {
  command: string;
  reversible: boolean;
  timeoutMs: number;
}

export interface ConfigKeyConfig {
  name: string;
  required: boolean;
  default?: string;
  secret: boolean;
  description?: string;
}

export type StoreConfig =
  | { type: 'local'; /** default: $SLIPWAY_HOME/store */ path?: string }
  | {
      type: 's3';
      bucket: string;
      region?: string;
      endpoint?: string;
      prefix?: string;
      forcePathStyle: boolean;
    };

export interface RetentionConfig {
  /** releases kept on a host (never current or previous) */
  releases: number;
  backups: { last: number; daily: number; weekly: number };
}

/** A server of a remote environment (slipway.yml `hosts:`, or the one `host: ssh://…`). */
export interface RemoteHostConfig {
  name: string;
  /** ssh://[user@]host[:port] */
  ssh: string;
  /** slipway's root folder on that host; default ~/.slipway/hosts/<app>/<env> of the SSH user */
  root?: string;
  /** this host's proxy port and address, when not the environment's */
  port?: number;
  bind?: string;
  /** which of the release's services this host runs (absent: all) */
  services?: string[];
  /** the names this host gets certificates for, instead of tls.domains ([]: no HTTPS on it) */
  domains?: string[];
  /** hosts, or services (every host running them), updated before this one */
  dependsOn: string[];
}

/** slipway.yml `standby` of an environment. */
export interface StandbyConfig {
  /** how long the old release stays warm after a switch; 0: off (stopped at the end of the update, as without standby) */
  windowMs: number;
  /** kept warm only while the host has at least this much memory available (MemAvailable) */
  minAvailableBytes: number;
}

/** An environment without `standby` in slipway.yml: ten minutes, while 256 MiB stay available. */
export const DEFAULT_STANDBY: StandbyConfig = { windowMs: 10 * 60_000, minAvailableBytes: 256 * 2 ** 20 };

export interface EnvironmentConfig {
  name: string;
  /** 'local', or the ssh:// URL of its (first) remote host */
  host: string;
  /** the remote hosts, in file order; empty for a local environment */
  hosts: RemoteHostConfig[];
  /** which of the release's services run here (absent: all); set per host in a remote host's own project file */
  services?: string[];
  /** host root folder; default $SLIPWAY_HOME/hosts/<app>/<env> for a local host */
  root?: string;
  /** public port of slipway's proxy for this environment */
  port: number;
  /** address the proxy listens on (all its ports); default 127.0.0.1 (bind 0.0.0.0 to be reached from outside) */
  bind: string;
  store: StoreConfig;
  /**
   * `registry`: container images are pushed there at publish and pulled by digest on the hosts
   * (absent: they travel through the store), in the repository `<url>/<app>`. `url` is
   * host[:port][/path]; the credentials are the names of environment variables, never their values.
   */
  registry?: { url: string; usernameEnv?: string; passwordEnv?: string };
  requireSignature: boolean;
  /** paths (relative to the project file) of ed25519 public keys accepted for this environment */
  publicKeys: string[];
  retention: RetentionConfig;
  healthWindowMs: number;
  drainTimeoutMs: number;
  /** `standby`: the release that served before an update keeps running, unrouted, for a rollback by proxy switch (absent: the agent's default) */
  standby?: StandbyConfig;
  /** pull mode: the agent polls the environment's channel in the store (null: push only) */
  pull: { intervalMs: number; jitterMs: number } | null;
  /** the agent's authenticated management API over HTTP (null: off, the default) */
  management: { bind: string; port: number; /** env variable holding the shared secret */ secretEnv: string } | null;
  /** env variable holding the AES-256 key for off-site backup copies */
  backupKeyEnv?: string;
  /** copy every backup, encrypted, to the environment's store; absent: false (the schema sets it true when backupKeyEnv is set) */
  offsiteBackups?: boolean;
  /**
   * `offsite_store`: where the off-site copies go instead of `store` (absent: `store`). `slipway setup`
   * writes it for a host driven over SSH, whose releases come into a local folder store while its
   * backups go to the environment's S3 store.
   */
  offsiteStore?: StoreConfig;
  /** 5-field cron expression (server local time) of the backups the agent takes on its own; absent: none */
  backupSchedule?: string;
  /** this host's name in status reports (default: the machine's hostname) */
  hostname?: string;
  /** `data_copy`: the agent copies another environment's data into this one on a schedule (src/agent/copy-schedule.ts) */
  dataCopy?: DataCopySettings;
  /**
   * `trusted_proxies`: IP addresses and CIDR ranges of proxies in front of slipway (a TLS
   * terminator) whose X-Forwarded-For/Proto/Host the proxy keeps; from any other client they
   * are replaced. Absent or empty: none is trusted.
   */
  trustedProxies?: string[];
  /** `environments.<env>.accessories`: per accessory, what differs here (its port, env, command) */
  accessoryOverrides?: Record<string, AccessoryOverride>;
  /** `tls`: HTTPS in slipway's proxy (absent: plain HTTP only) */
  tls?: TlsConfig;
}

/**
 * slipway.yml `environments.<env>.tls`. The proxy serves HTTPS on `port`; on `httpPort` it answers
 * ACME HTTP-01 challenges and redirects the rest to HTTPS (or serves it, when `redirectHttp` is false).
 * The environment's own `port` keeps serving plain HTTP; when it is `httpPort`, one listener does both.
 */
export type TlsConfig = { port: number; httpPort: number; redirectHttp: boolean } & (
  | {
      kind: 'acme';
      /** one certificate per name, each proved over HTTP-01 */
      domains: string[];
      email?: string;
      /** RFC 8555 directory URL; default Let's Encrypt production */
      acmeDirectory: string;
    }
  | {
      kind: 'files';
      /** PEM chain and key the user manages, relative to the project file's folder (on a remote host: its root) */
      certFile: string;
      keyFile: string;
    }
);

/** What one environment changes of an accessory: its loopback port, variables merged over its env, its command. */
export interface AccessoryOverride {
  port?: number;
  env?: Record<string, string>;
  command?: string[];
}

export interface HookConfig {
  when: 'before' | 'after';
  step: PipelineStepName;
  commands: string[];
}

/** slipway.yml `upgrade`: which releases this one can be updated from. */
export interface UpgradeConfig {
  /** a version range (src/util/version.ts), e.g. ">=v2"; a host running anything else must update through a release in between */
  from: string;
}

export interface ProjectConfig {
  app: string;
  services: ServiceConfig[];
  /** long-lived containers beside the app (databases, caches); empty when none */
  accessories: AccessoryConfig[];
  build: BuildConfig;
  data: DataConfig;
  migrate: MigrateConfig | null;
  hooks: HookConfig[];
  config: ConfigKeyConfig[];
  environments: EnvironmentConfig[];
  /** path (relative to the project file) of the ed25519 private key used to sign builds */
  signing: { key?: string };
  /** absent: reachable from any earlier release */
  upgrade?: UpgradeConfig;
}

export interface LoadedProject {
  config: ProjectConfig;
  /** absolute path of slipway.yml */
  file: string;
  /** folder holding slipway.yml (the app's root) */
  dir: string;
  warnings: string[];
}

/**
 * How a release runs, taken from slipway.yml at the commit it was built from and
 * kept in its manifest: the host runs what the release says, not what the
 * operator's working copy says today.
 */
export interface ReleaseRuntime {
  services: ServiceConfig[];
  migrate: MigrateConfig | null;
  data: DataConfig;
  hooks: HookConfig[];
  config: ConfigKeyConfig[];
}
