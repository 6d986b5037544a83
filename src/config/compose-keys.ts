/**
 * Keys of a compose file that slipway.yml has no place for, and why: each becomes a
 * finding at its line. A key in neither the mapped nor this list is reported as unknown.
 */
import type { Findings } from './compose-source.js';
import type { PathSegment } from './yaml-source.js';

const HOST_NETWORKING = 'containers run with host networking: each listens on its own loopback port, and services reach accessories on 127.0.0.1';
const PRIVILEGES = 'slipway runs containers without extra privileges or devices; if the app really needs this, it cannot run under slipway as it is';

/** Service keys slipway does not map, with the reason told to the user. */
export const UNMAPPED_SERVICE_KEYS: Record<string, string> = {
  networks: HOST_NETWORKING,
  network_mode: HOST_NETWORKING,
  links: HOST_NETWORKING,
  external_links: HOST_NETWORKING,
  extra_hosts: HOST_NETWORKING,
  dns: HOST_NETWORKING,
  dns_search: HOST_NETWORKING,
  hostname: HOST_NETWORKING,
  domainname: HOST_NETWORKING,
  mac_address: HOST_NETWORKING,
  expose: 'with host networking nothing needs exposing; the port a service listens on is given to it in $PORT',
  privileged: PRIVILEGES,
  cap_add: PRIVILEGES,
  cap_drop: 'slipway does not change a container\'s capabilities',
  devices: PRIVILEGES,
  device_cgroup_rules: PRIVILEGES,
  security_opt: PRIVILEGES,
  pid: PRIVILEGES,
  ipc: PRIVILEGES,
  userns_mode: PRIVILEGES,
  cgroup_parent: PRIVILEGES,
  sysctls: PRIVILEGES,
  deploy: 'slipway runs one container per service and slot (blue/green), with no replicas, placement or resource limits',
  scale: 'slipway runs one container per service and slot (blue/green)',
  mem_limit: 'slipway sets no resource limits on containers',
  memswap_limit: 'slipway sets no resource limits on containers',
  cpus: 'slipway sets no resource limits on containers',
  cpu_shares: 'slipway sets no resource limits on containers',
  ulimits: 'slipway sets no resource limits on containers',
  shm_size: 'slipway sets no resource limits on containers',
  profiles: 'every service in slipway.yml runs in every environment; choose some per environment with environments.<env>.services',
  extends: 'slipway does not follow it: copy the keys this service inherits into it in the compose file, then run init again',
  restart: 'slipway\'s agent supervises services and accessories and restarts them itself',
  container_name: 'slipway names containers itself and finds them by their labels',
  labels: 'slipway labels its containers itself (app, environment, slot, release)',
  logging: 'slipway keeps each service\'s output in its own rotated logs (`slipway logs`)',
  stop_signal: 'slipway stops a service with SIGTERM, then SIGKILL after the environment\'s drain_timeout',
  stop_grace_period: 'the time a service gets to stop is the environment\'s drain_timeout',
  entrypoint: 'slipway runs the image\'s own entrypoint; put what it must run in the Dockerfile, or in `command`',
  user: 'set the user in the Dockerfile (USER); slipway.yml has no place for it',
  working_dir: 'set it in the Dockerfile (WORKDIR); slipway.yml has no place for it',
  tmpfs: 'slipway mounts only volumes and data folders',
  init: 'slipway.yml has no place for it',
  tty: 'services run without a terminal',
  stdin_open: 'services run without a terminal',
  secrets: 'file secrets are not mounted; give the app the value in a variable instead (`slipway config production set NAME`)',
  configs: 'config files are not mounted; ship them in the image or the release',
  platform: 'images are built for the machine slipway builds on',
  pull_policy: 'slipway pins every image when it builds a release; hosts never pull by tag',
  annotations: 'slipway.yml has no place for it',
  develop: 'development-only settings',
  runtime: 'slipway uses the engine\'s default runtime',
  isolation: 'slipway uses the engine\'s default isolation',
  oom_score_adj: 'slipway.yml has no place for it',
  oom_kill_disable: 'slipway.yml has no place for it',
  group_add: 'set it in the Dockerfile; slipway.yml has no place for it',
  read_only: 'slipway.yml has no place for it',
  blkio_config: 'slipway sets no resource limits on containers',
  cpuset: 'slipway sets no resource limits on containers',
  storage_opt: 'slipway.yml has no place for it',
};

/** Top-level keys slipway does not map, with the reason. */
export const UNMAPPED_TOP_KEYS: Record<string, string> = {
  networks: HOST_NETWORKING,
  secrets: 'file secrets are not mounted; give the app the value in a variable instead (`slipway config production set NAME`)',
  configs: 'config files are not mounted; ship them in the image or the release',
  include: 'slipway does not follow it: put the services of the included files in this one, or run init on each',
};

/** Reports every key of `keys` that is not `handled`; x-* extension fields are skipped (they are only there for anchors). */
export function reportUnmappedKeys(o: {
  keys: Record<string, unknown>;
  handled: readonly string[];
  reasons: Record<string, string>;
  at: PathSegment[];
  findings: Findings;
}): void {
  for (const key of Object.keys(o.keys)) {
    if (o.handled.includes(key) || key.startsWith('x-')) continue;
    const reason = o.reasons[key];
    o.findings.at([...o.at, key], reason === undefined ? `unknown key \`${key}\`: not a compose key slipway knows how to map` : `not mapped: ${reason}`);
  }
}
