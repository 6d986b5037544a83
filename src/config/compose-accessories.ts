/**
 * Compose services whose image is a database, cache or queue become accessories: long-lived
 * containers a deploy never switches, on a loopback port, with their volumes; their
 * passwords go to the host's env file (`secrets:`), never into slipway.yml.
 */
import path from 'node:path';
import { isSecretVariable, rewriteHosts, serviceVariables } from './compose-env.js';
import { reportUnmappedKeys, UNMAPPED_SERVICE_KEYS } from './compose-keys.js';
import { parsePort, parseVolume } from './compose-mounts.js';
import { interpolate } from './compose-source.js';
import type { AccessoryDraft, MappingContext } from './compose-draft.js';
import type { PathSegment } from './yaml-source.js';

export interface AccessoryKind {
  /** what it is, in the summary */
  label: string;
  /** the backup engine of slipway that dumps it, if any */
  engine?: 'postgres' | 'mysql';
  /** where the image listens by default */
  port: number;
  /** arguments that keep it on 127.0.0.1 under host networking (the image's entrypoint takes them) */
  loopbackArgs?: string[];
  /** arguments that make it listen on another port (the image's entrypoint takes them) */
  portArgs?: (port: number) => string[];
}

const KINDS: [RegExp, AccessoryKind][] = [
  [/^(postgres|postgresql|postgis|pgvector|timescaledb)$/, { label: 'PostgreSQL', engine: 'postgres', port: 5432, loopbackArgs: ['-c', 'listen_addresses=127.0.0.1'], portArgs: (p) => ['-c', `port=${p}`] }],
  [/^(mariadb|mysql)$/, { label: 'MariaDB/MySQL', engine: 'mysql', port: 3306, loopbackArgs: ['--bind-address=127.0.0.1'], portArgs: (p) => [`--port=${p}`] }],
  [/^(redis|valkey)$/, { label: 'a cache', port: 6379, loopbackArgs: ['--bind', '127.0.0.1'], portArgs: (p) => ['--port', String(p)] }],
  [/^memcached$/, { label: 'a cache', port: 11211, loopbackArgs: ['-l', '127.0.0.1'], portArgs: (p) => ['-p', String(p)] }],
  [/^rabbitmq$/, { label: 'a queue', port: 5672 }],
  [/^(mongo|mongodb)$/, { label: 'a document database', port: 27017, loopbackArgs: ['--bind_ip', '127.0.0.1'], portArgs: (p) => ['--port', String(p)] }],
];

/** The repository part of an image reference: `docker.io/library/postgres:16@sha256:…` → postgres. */
export function imageRepositoryName(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  const withoutTag = colon > lastSlash ? withoutDigest.slice(0, colon) : withoutDigest;
  return withoutTag.slice(withoutTag.lastIndexOf('/') + 1).toLowerCase();
}

export function accessoryKind(image: string): AccessoryKind | undefined {
  const name = imageRepositoryName(image);
  return KINDS.find(([pattern]) => pattern.test(name))?.[1];
}

/** The port it listens on: the container side of its first published port, else the image's default. */
export function accessoryPort(service: Record<string, unknown>, kind: AccessoryKind): { port: number; published?: number } {
  const ports = Array.isArray(service.ports) ? service.ports.map(parsePort).filter((p) => p !== undefined) : [];
  const first = ports[0];
  return first === undefined ? { port: kind.port } : { port: first.container, ...(first.host === undefined ? {} : { published: first.host }) };
}

const HANDLED = ['image', 'environment', 'env_file', 'ports', 'volumes', 'command', 'healthcheck', 'depends_on'];

/**
 * Where it listens under host networking: where the host reached it (the published port) when
 * the image can be told another port, else its own port.
 */
export function accessoryListenPort(service: Record<string, unknown>, kind: AccessoryKind): { port: number; moved: boolean; containerPort: number; published?: number } {
  const { port: containerPort, published } = accessoryPort(service, kind);
  const moved = published !== undefined && published !== containerPort && kind.portArgs !== undefined && service.command === undefined;
  return { port: moved ? published : containerPort, moved, containerPort, ...(published === undefined ? {} : { published }) };
}

export function mapAccessory(ctx: MappingContext, o: { composeName: string; name: string; service: Record<string, unknown>; kind: AccessoryKind; image: string }): void {
  const at: PathSegment[] = ['services', o.composeName];
  const { findings } = ctx;
  const { port, moved: movable, containerPort, published } = accessoryListenPort(o.service, o.kind);
  const accessory: AccessoryDraft = { name: o.name, image: o.image, volumes: [], env: {}, secrets: [], port };
  if (published !== undefined && published !== containerPort && !movable) {
    findings.at([...at, 'ports'], `published on ${published} in the compose file; with host networking it listens on 127.0.0.1:${containerPort}, its own port (slipway.yml accessories.${o.name}.port)`);
  }
  if (!/[:@]/.test(o.image.slice(o.image.lastIndexOf('/') + 1)) || o.image.endsWith(':latest')) {
    findings.at([...at, 'image'], `\`${o.image}\` names no version: pin one (like ${imageRepositoryName(o.image)}:16); upgrading an accessory is its own deliberate step, backup first`, 'value');
  }
  mapAccessoryVolumes(ctx, accessory, o.service, at);
  for (const variable of serviceVariables({ service: o.service, at, composeDir: ctx.composeDir, shownDir: path.dirname(ctx.doc.file), interpolation: ctx.interpolation, findings })) {
    // A URL naming another accessory by its compose host name: the same value the app services get.
    if (variable.value !== undefined) variable.value = rewriteHosts({ name: variable.name, value: variable.value, accessories: new Map([...ctx.accessories].map(([host, a]) => [host, a.port])) }).value;
    if (isSecretVariable(variable)) {
      accessory.secrets.push(variable.name);
      if (variable.value === undefined || variable.value === '') {
        whereVariable(ctx, variable.from, `\`${variable.name}\` has no value here: set it on the host before the accessory starts (\`slipway config production set ${variable.name}\`)`);
      } else if (ctx.hostValues.set(variable.name, variable.value) === 'conflict') {
        whereVariable(ctx, variable.from, `\`${variable.name}\` has another value in another service; the first one went to the host env file: check which one is right`);
      }
    } else if (variable.value === undefined) {
      whereVariable(ctx, variable.from, `\`${variable.name}\` comes from the shell that runs the compose file: not mapped; write its value under accessories.${o.name}.env`);
    } else {
      accessory.env[variable.name] = variable.value;
    }
  }
  if (o.service.command !== undefined) {
    const raw = o.service.command;
    const args = Array.isArray(raw) ? raw.map(String) : String(raw).trim().split(/\s+/);
    accessory.command = args.map((a) => interpolate(a, ctx.interpolation).value);
    if (o.kind.loopbackArgs !== undefined) {
      findings.at([...at, 'command'], `kept as written; with host networking it listens on every interface unless its command keeps it on 127.0.0.1 (${o.kind.loopbackArgs.join(' ')})`);
    }
  } else if (o.kind.loopbackArgs !== undefined) {
    accessory.command = [...o.kind.loopbackArgs, ...(movable ? o.kind.portArgs!(port) : [])];
    accessory.commandWhy = `listens on 127.0.0.1${movable ? `:${port} (the port the compose file published)` : ''} only: with host networking it would otherwise listen on every interface`;
  } else {
    findings.at(at, `with host networking ${o.name} listens on every interface: restrict it to 127.0.0.1 in its own configuration, or with a firewall`);
  }
  if (o.service.healthcheck !== undefined) {
    findings.at([...at, 'healthcheck'], 'not mapped: slipway.yml has no health check for accessories; slipway waits for its port');
  }
  reportUnmappedKeys({ keys: o.service, handled: HANDLED, reasons: UNMAPPED_SERVICE_KEYS, at, findings });
  ctx.draft.accessories.push(accessory);
  const backedUp = o.kind.engine !== undefined ? `, backed up by slipway's ${o.kind.engine} engine` : '';
  ctx.mapped.push(`accessory ${o.name}: ${o.image} (${o.kind.label}) on 127.0.0.1:${port}${backedUp}${accessory.secrets.length > 0 ? `; secrets: ${accessory.secrets.join(', ')}` : ''}`);
  if (o.kind.engine === undefined && accessory.volumes.length > 0) {
    findings.at([...at, 'volumes'], `no backup engine for ${o.kind.label}: slipway does not back up the data of ${o.name}`);
  }
}

function mapAccessoryVolumes(ctx: MappingContext, accessory: AccessoryDraft, service: Record<string, unknown>, at: PathSegment[]): void {
  if (!Array.isArray(service.volumes)) return;
  service.volumes.forEach((entry, index) => {
    const where = [...at, 'volumes', index];
    const volume = parseVolume(typeof entry === 'string' ? interpolate(entry, ctx.interpolation).value : entry);
    if (volume === undefined || volume.kind === 'other' || volume.kind === 'anonymous') {
      ctx.findings.at(where, 'not mapped: an accessory mounts a named volume (name:/path) or a folder under the host root (./folder:/path)', 'value');
      return;
    }
    if (volume.readOnly) ctx.findings.at(where, 'mounted read-write: slipway.yml has no read-only mounts', 'value');
    if (volume.kind === 'named' && /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(volume.source!)) {
      accessory.volumes.push(`${volume.source}:${volume.target}`);
      ctx.findings.at(where, `the data now in the compose stack's volume is not moved: restore a backup into the accessory, or copy the volume before the first deploy`, 'value');
      return;
    }
    const folder = volume.source!.replace(/^\.\//, '');
    if (volume.source!.startsWith('./') && folder !== '' && !folder.split('/').includes('..')) {
      accessory.volumes.push(`./${folder}:${volume.target}`);
      ctx.findings.at(where, `./${folder} is now a folder under the host root, not beside the compose file: copy the data there before the first deploy`, 'value');
      return;
    }
    ctx.findings.at(where, `not mapped: ${volume.source} is outside the project; an accessory mounts a named volume or a folder under the host root (./folder:/path)`, 'value');
  });
}

/** A finding at where a variable was written: its key in the compose file, or its line in an env file. */
export function whereVariable(ctx: MappingContext, from: { path: PathSegment[] } | { file: string; line: number }, message: string): void {
  if ('path' in from) ctx.findings.at(from.path, message);
  else ctx.findings.inFile(from.file, from.line, '', message);
}
