/**
 * Compose services with `build:` or an app's `image:` become slipway services: run as
 * containers, told their port in $PORT (host networking, one port per slot), health-checked
 * over HTTP; secrets become config keys whose values go to the host's env file.
 */
import path from 'node:path';
import { addConfigKey, type MappingContext, type ServiceDraft } from './compose-draft.js';
import { isSecretVariable, rewriteHosts, serviceVariables } from './compose-env.js';
import { healthFrom } from './compose-health.js';
import { reportUnmappedKeys, UNMAPPED_SERVICE_KEYS } from './compose-keys.js';
import { parsePort, parseVolume, type ComposePort } from './compose-mounts.js';
import { interpolate, isRecord } from './compose-source.js';
import { whereVariable } from './compose-accessories.js';
import { imageReference } from './schema-services.js';
import { looksLikeSecretName } from './secret-rules.js';
import type { PathSegment } from './yaml-source.js';

const HANDLED = ['image', 'build', 'command', 'environment', 'env_file', 'ports', 'volumes', 'healthcheck', 'depends_on'];
const BUILD_KEYS = ['context', 'dockerfile', 'target', 'args'];
/** Where a named volume or a folder of an app holds what its users made, not what the release ships. */
const USER_DATA = /media|upload|attachment|files|storage|data|avatar|document|user/i;

/** Maps one app service; returns the port the compose file published it on (the proxy's port), if any. */
export function mapService(ctx: MappingContext, o: { composeName: string; name: string; service: Record<string, unknown> }): { published?: number } | undefined {
  const at: PathSegment[] = ['services', o.composeName];
  const { findings } = ctx;
  const service: ServiceDraft = { name: o.name, portEnv: 'PORT', env: {}, health: { path: '/healthz' } };
  if (o.service.build !== undefined) {
    service.build = mapBuild(ctx, o.service.build, [...at, 'build']);
    if (o.service.image !== undefined) findings.at([...at, 'image'], 'not used: slipway tags the image it builds with the app, the version and the release id');
  } else {
    const image = interpolate(String(o.service.image), ctx.interpolation).value;
    if (!imageReference().safeParse(image).success) {
      findings.at([...at, 'image'], `not mapped: \`${image}\` is not an image reference slipway takes (like registry.example.com/app:1.2); service left out`, 'value');
      return undefined;
    }
    service.image = image;
  }

  const ports = mapPorts(ctx, o.service.ports, at);
  const variables = serviceVariables({ service: o.service, at, composeDir: ctx.composeDir, shownDir: path.dirname(ctx.doc.file), interpolation: ctx.interpolation, findings });
  let portFromVariable = false;
  const hosts = new Map([...ctx.accessories].map(([composeName, accessory]) => [composeName, accessory.port]));
  for (const variable of variables) {
    if (ports !== undefined && /PORT$/i.test(variable.name) && variable.value === String(ports.container)) {
      service.portEnv = variable.name;
      portFromVariable = true;
      ctx.mapped.push(`service ${o.name}: told its port in $${variable.name} (it was ${ports.container} in the compose file)`);
      continue;
    }
    let value = variable.value;
    if (value !== undefined) {
      const rewritten = rewriteHosts({ name: variable.name, value, accessories: hosts });
      if (rewritten.host !== undefined) {
        ctx.references.push({ variable: variable.name, host: rewritten.host, value: rewritten.value });
        whereVariable(ctx, variable.from, `\`${variable.name}\` named ${rewritten.host} by its compose host name: rewritten to 127.0.0.1${hosts.get(rewritten.host) === undefined ? '' : `:${hosts.get(rewritten.host)}`} (accessories listen on loopback)`);
      }
      value = rewritten.value;
      const peer = Object.keys(ctx.doc.data.services as Record<string, unknown>).find((other) => !ctx.accessories.has(other) && new RegExp(`://([^\\s/@]*@)?${other.replace(/[.]/g, '\\.')}([:/]|$)`).test(rewritten.value));
      if (peer !== undefined) whereVariable(ctx, variable.from, `\`${variable.name}\` names service ${peer} by its compose host name, which nothing answers to under slipway: reach it through slipway's proxy (environments.production.port)`);
    }
    if (isSecretVariable({ name: variable.name, value })) {
      addConfigKey(ctx.draft.config, { name: variable.name, required: true, secret: true });
      if (value === undefined || value === '') {
        whereVariable(ctx, variable.from, `\`${variable.name}\` has no value here: set it on the host (\`slipway config production set ${variable.name}\`)`);
      } else if (ctx.hostValues.set(variable.name, value) === 'conflict') {
        whereVariable(ctx, variable.from, `\`${variable.name}\` has another value in another service; the first one went to the host env file: check which one is right`);
      }
    } else if (value === undefined) {
      addConfigKey(ctx.draft.config, { name: variable.name, required: true, secret: false });
      whereVariable(ctx, variable.from, `\`${variable.name}\` comes from the shell that runs the compose file: now a required config key; set it with \`slipway config production set ${variable.name}\``);
    } else {
      service.env[variable.name] = value;
    }
  }

  if (o.service.command !== undefined) {
    service.command = mapCommand(ctx, { command: o.service.command, at: [...at, 'command'], port: ports?.container, portEnv: service.portEnv, portFromVariable, name: o.name });
  } else if (ports !== undefined && !portFromVariable) {
    findings.at([...at, 'ports'], `${o.name} listened on ${ports.container} in its container; under slipway each slot gets its own port on loopback in $PORT: make the app listen on 127.0.0.1:$PORT (or add a command that does)`);
  }
  const health = healthFrom(ctx, o.service.healthcheck, [...at, 'healthcheck']);
  if (health !== undefined) service.health = health;
  else if (ports === undefined) {
    // A worker: no port, no check. It is healthy once it keeps running (health: false).
    service.health = { ...service.health, http: false };
    findings.at(at, `${o.name} listens on no port in the compose file: it gets health: false (healthy once it keeps running for a second after it starts); give it an HTTP endpoint on $${service.portEnv} and a health.path for a real check`);
  }
  else if (ports !== undefined) findings.at(at, `no HTTP health check in the compose file: slipway checks GET /healthz; the app must answer it with a 2xx, or set services.${o.name}.health.path to a page that does`);

  mapServiceVolumes(ctx, o.service.volumes, at, o.name);
  mapDependsOn(ctx, o.service.depends_on, [...at, 'depends_on'], o.name);
  reportUnmappedKeys({ keys: o.service, handled: HANDLED, reasons: UNMAPPED_SERVICE_KEYS, at, findings });
  ctx.draft.services.push(service);
  const how = service.build ? `built from ${path.posix.join(service.build.context, service.build.dockerfile ?? 'Dockerfile')}${service.build.target ? ` (target ${service.build.target})` : ''}` : `image ${service.image}`;
  ctx.mapped.push(`service ${o.name}: ${how}${service.command ? `, command: ${service.command}` : ''}`);
  return ports?.host === undefined ? {} : { published: ports.host };
}

function mapBuild(ctx: MappingContext, build: unknown, at: PathSegment[]): NonNullable<ServiceDraft['build']> {
  const spec = typeof build === 'string' ? { context: build } : isRecord(build) ? build : {};
  const rawContext = interpolate(String(spec.context ?? '.'), ctx.interpolation).value;
  let context = '.';
  if (/^[a-z][a-z0-9+.-]*:\/\/|^git@/i.test(rawContext)) {
    ctx.findings.at(typeof build === 'string' ? at : [...at, 'context'], 'a remote build context is not mapped: slipway builds from the release\'s export of the commit; context set to .', 'value');
  } else {
    const relative = path.relative(ctx.projectDir, path.resolve(ctx.composeDir, rawContext)).split(path.sep).join('/');
    context = relative === '' ? '.' : relative;
    if (context.startsWith('..') || path.isAbsolute(context)) {
      ctx.findings.at(typeof build === 'string' ? at : [...at, 'context'], `${rawContext} is outside the project folder: slipway builds from the release's export of the commit, which holds only the project's files`, 'value');
    }
  }
  const out: NonNullable<ServiceDraft['build']> = { context, args: {} };
  if (typeof spec.dockerfile === 'string') out.dockerfile = interpolate(spec.dockerfile, ctx.interpolation).value;
  if (typeof spec.target === 'string') out.target = interpolate(spec.target, ctx.interpolation).value;
  const args = Array.isArray(spec.args)
    ? spec.args.map((entry) => String(entry).split(/=(.*)/s)).map(([name, value]) => [name!, value] as const)
    : isRecord(spec.args)
      ? Object.entries(spec.args).map(([name, value]) => [name, value === null ? undefined : String(value)] as const)
      : [];
  for (const [name, value] of args) {
    const argAt = [...at, 'args', Array.isArray(spec.args) ? spec.args.findIndex((e) => String(e).startsWith(name)) : name];
    if (looksLikeSecretName(name)) {
      ctx.findings.at(argAt, `build argument \`${name}\` looks like a secret: not mapped (a build argument is readable in the image's history; give the app the value at run time instead)`);
    } else if (value === undefined) {
      ctx.findings.at(argAt, `build argument \`${name}\` comes from the shell that runs the build: not mapped; write its value under build.args`);
    } else {
      out.args[name] = interpolate(value, ctx.interpolation).value;
    }
  }
  if (isRecord(build)) {
    reportUnmappedKeys({ keys: build, handled: BUILD_KEYS, reasons: { dockerfile_inline: 'write the Dockerfile to a file in the project' }, at, findings: ctx.findings });
  }
  return out;
}

function mapPorts(ctx: MappingContext, value: unknown, at: PathSegment[]): ComposePort | undefined {
  if (!Array.isArray(value)) return undefined;
  let first: ComposePort | undefined;
  value.forEach((entry, index) => {
    const port = parsePort(typeof entry === 'string' ? interpolate(entry, ctx.interpolation).value : entry);
    if (port === undefined) ctx.findings.at([...at, 'ports', index], 'not mapped: slipway routes HTTP to one TCP port per service (no ranges, no UDP)', 'value');
    else if (first === undefined) first = port;
    else ctx.findings.at([...at, 'ports', index], 'not mapped: slipway routes to one port per service, the one in its port variable', 'value');
  });
  return first;
}

/** A command line for `sh -c` in the container, the compose port replaced by the slot's. */
function mapCommand(ctx: MappingContext, o: { command: unknown; at: PathSegment[]; port: number | undefined; portEnv: string; portFromVariable: boolean; name: string }): string {
  const words = Array.isArray(o.command) ? o.command.map((w) => interpolate(String(w), ctx.interpolation).value) : undefined;
  let line = words ? words.map(shellWord).join(' ') : interpolate(String(o.command), ctx.interpolation).value;
  if (o.port !== undefined) {
    const before = line;
    line = line
      .replace(new RegExp(`\\b0\\.0\\.0\\.0:${o.port}\\b`, 'g'), `127.0.0.1:\${${o.portEnv}}`)
      .replace(new RegExp(`(^|[\\s:=])${o.port}(?![\\d.])`, 'g'), `$1\${${o.portEnv}}`);
    if (line !== before) ctx.mapped.push(`service ${o.name}: port ${o.port} in its command is now \${${o.portEnv}} (each slot gets its own port on loopback)`);
    else if (!o.portFromVariable) ctx.findings.at(o.at, `${o.name} listened on ${o.port} in its container; under slipway each slot gets its own port in $PORT: make the command listen on 127.0.0.1:$PORT`);
  }
  return line;
}

function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./${}-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function mapServiceVolumes(ctx: MappingContext, value: unknown, at: PathSegment[], name: string): void {
  if (!Array.isArray(value)) return;
  value.forEach((entry, index) => {
    const where = [...at, 'volumes', index];
    const volume = parseVolume(typeof entry === 'string' ? interpolate(entry, ctx.interpolation).value : entry);
    if (volume === undefined || volume.kind === 'other' || volume.kind === 'anonymous') {
      ctx.findings.at(where, 'not mapped: slipway keeps an app\'s lasting files in data folders (named volumes of user files become one)', 'value');
      return;
    }
    const folder = volume.kind === 'named' ? volume.source! : volume.source!.replace(/^\.\//, '');
    const looksLikeUserData = USER_DATA.test(folder) || USER_DATA.test(volume.target);
    if (volume.kind === 'bind' && (!looksLikeUserData || !volume.source!.startsWith('./') || folder.split('/').includes('..') || folder === '')) {
      ctx.findings.at(where, 'not mapped: a folder of the project mounted into the container (for development); a release carries its code in its image', 'value');
      return;
    }
    if (!looksLikeUserData) {
      ctx.findings.at(where, `not mapped: ${volume.source} does not look like user files (a cache?); slipway keeps lasting files in data folders, listed under data.folders`, 'value');
      return;
    }
    if (!ctx.draft.folders.includes(folder)) ctx.draft.folders.push(folder);
    ctx.findings.at(where, `became data folder \`${folder}\` (under the host's shared/ folder, backed up before every update); the app found it at ${volume.target}: check it still does, and copy the files there before the first deploy`, 'value');
    ctx.mapped.push(`service ${name}: data folder ${folder} (was ${volume.source}:${volume.target})`);
  });
}

function mapDependsOn(ctx: MappingContext, value: unknown, at: PathSegment[], name: string): void {
  const names = Array.isArray(value) ? value.map(String) : isRecord(value) ? Object.keys(value) : [];
  for (const dependency of names) {
    const accessory = ctx.accessories.get(dependency);
    if (accessory !== undefined) ctx.mapped.push(`service ${name} depends on ${dependency}: accessories run before and apart from releases`);
    else ctx.findings.at(at, `${dependency}: not mapped: the services of a release start together, each told its port; slipway.yml has no start order between them`);
  }
}
