/**
 * `slipway init --from-compose`: a compose file read into the slipway.yml that runs the same
 * stack (services as containers, databases and caches as accessories, their data backed up),
 * the values that go to the host's env file instead (secrets never go in slipway.yml), and a
 * finding, with its line, for everything that could not be said the same way.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError, usageError } from '../errors.js';
import { accessoryKind, accessoryListenPort, mapAccessory } from './compose-accessories.js';
import { mapDatabases, type SqlAccessory } from './compose-databases.js';
import { HostValues, type MappingContext, type ProjectDraft } from './compose-draft.js';
import { readInterpolationFile } from './compose-env.js';
import { reportUnmappedKeys, UNMAPPED_TOP_KEYS } from './compose-keys.js';
import { renderComposeProject } from './compose-render.js';
import { mapService } from './compose-services.js';
import { Findings, interpolate, isRecord, parseComposeText, type ComposeFinding } from './compose-source.js';
import { toAppName } from './init-template.js';
import { formatProblem, parseProjectText } from './load.js';

export type { ComposeFinding } from './compose-source.js';
export { formatFinding } from './compose-source.js';

export interface ComposeImport {
  app: string;
  /** the slipway.yml text; it loads without problems */
  text: string;
  /** for the host env file: secrets, and the URLs slipway's backups use */
  hostValues: { name: string; value: string }[];
  /** one line per thing mapped */
  mapped: string[];
  findings: ComposeFinding[];
}

/** Shortest secret value searched for in what is written: shorter ones match ordinary words. */
const GUARDED_SECRET_LENGTH = 6;

export async function importComposeFile(o: { file: string; shownName: string; projectDir: string }): Promise<ComposeImport> {
  let text: string;
  try {
    text = await readFile(o.file, 'utf8');
  } catch (error) {
    throw usageError('COMPOSE_UNREADABLE', `cannot read ${o.shownName}: ${(error as Error).message}`, {
      hint: 'give the path of the compose file, like `slipway init --from-compose docker-compose.yml`',
      cause: error,
    });
  }
  return importComposeText({ text, shownName: o.shownName, composeDir: path.dirname(o.file), projectDir: o.projectDir });
}

/** Maps the compose file's text; reads only the env files it names and the .env beside it. */
export function importComposeText(o: { text: string; shownName: string; composeDir: string; projectDir: string }): ComposeImport {
  const doc = parseComposeText(o.text, o.shownName);
  const interpolation = readInterpolationFile(o.composeDir);
  const findings = new Findings(doc);
  const rawName = typeof doc.data.name === 'string' ? interpolate(doc.data.name, interpolation).value : path.basename(o.composeDir);
  const draft: ProjectDraft = { app: toAppName(rawName), composeFile: o.shownName, services: [], accessories: [], databases: [], folders: [], config: [], port: 8080 };
  const ctx: MappingContext = { doc, composeDir: o.composeDir, projectDir: o.projectDir, interpolation, findings, mapped: [], hostValues: new HostValues(), draft, accessories: new Map(), references: [] };

  reportUnmappedKeys({ keys: doc.data, handled: ['services', 'volumes', 'name', 'version'], reasons: UNMAPPED_TOP_KEYS, at: [], findings });
  if (isRecord(doc.data.volumes)) {
    for (const [volume, spec] of Object.entries(doc.data.volumes)) {
      if (isRecord(spec) && Object.keys(spec).length > 0) findings.at(['volumes', volume], `not mapped: ${Object.keys(spec).join(', ')}; slipway makes plain local volumes`);
    }
  }

  const services = doc.data.services as Record<string, unknown>;
  const used = new Set<string>();
  const apps: { composeName: string; name: string; service: Record<string, unknown> }[] = [];
  const sql: SqlAccessory[] = [];
  const accessories: (() => void)[] = [];
  for (const [composeName, service] of Object.entries(services)) {
    if (!isRecord(service)) {
      findings.at(['services', composeName], 'not mapped: expected a mapping like { build: . } or { image: postgres:16 }');
      continue;
    }
    let name = toAppName(composeName);
    for (let n = 2; used.has(name); n++) name = `${toAppName(composeName)}-${n}`;
    used.add(name);
    if (name !== composeName) ctx.mapped.push(`${composeName} is named ${name} (lowercase letters, digits and -)`);
    const image = typeof service.image === 'string' ? interpolate(service.image, interpolation).value : undefined;
    const kind = service.build === undefined && image !== undefined ? accessoryKind(image) : undefined;
    if (kind !== undefined) {
      const { port } = accessoryListenPort(service, kind);
      ctx.accessories.set(composeName, { name, port, ...(kind.engine ? { engine: kind.engine } : {}) });
      accessories.push(() => {
        mapAccessory(ctx, { composeName, name, service, kind, image: image! });
        if (kind.engine !== undefined) sql.push({ composeName, accessory: draft.accessories.at(-1)!, engine: kind.engine });
      });
    } else if (/^migrat/.test(name) && service.command !== undefined && service.ports === undefined && (service.build !== undefined || image !== undefined)) {
      const command = Array.isArray(service.command) ? service.command.map(String).join(' ') : String(service.command);
      draft.migrate = interpolate(command, interpolation).value;
      ctx.mapped.push(`${composeName}: its command is the migration, run in a one-off container of the new release's image during each update`);
    } else if (service.build !== undefined || image !== undefined) {
      apps.push({ composeName, name, service });
    } else {
      findings.at(['services', composeName], 'not mapped: neither `build` nor `image`');
    }
  }
  for (const map of accessories) map();
  // the service with a published port first: it is the one slipway's proxy routes to
  apps.sort((a, b) => Number(b.service.ports !== undefined) - Number(a.service.ports !== undefined));
  for (const app of apps) {
    const result = mapService(ctx, app);
    if (result?.published === undefined || draft.services.length !== 1) continue;
    draft.port = result.published;
    if (draft.port < 1024) {
      findings.at(['services', app.composeName, 'ports'], `slipway's proxy takes the port the compose file published, ${draft.port}: listening below 1024 needs root or CAP_NET_BIND_SERVICE; choose another in environments.production.port if the agent runs as a plain user`);
    }
  }
  if (draft.services.length === 0) {
    throw usageError('COMPOSE_NO_APP_SERVICE', `${o.shownName} has no service slipway can run as the app: none with \`build:\`, or an image that is not a database or cache`, {
      details: findings.sorted().map(formatProblem),
      hint: 'add the app\'s service (build: . with its Dockerfile) to the compose file, or write slipway.yml with `slipway init`',
    });
  }
  mapDatabases(ctx, sql);
  guardSecrets(ctx);
  const text = renderComposeProject(draft);
  assertLoads(text, ctx.hostValues.entries());
  return { app: draft.app, text, hostValues: ctx.hostValues.entries(), mapped: ctx.mapped, findings: findings.sorted() };
}

/**
 * A secret's value can also sit in a plain setting (a command line, a user name equal to the
 * password): such a setting is rewritten to name the variable, or left out with a finding.
 */
function guardSecrets(ctx: MappingContext): void {
  const secrets = ctx.hostValues.entries().filter((s) => s.value.length >= GUARDED_SECRET_LENGTH);
  const holder = (text: string) => secrets.find((s) => text.includes(s.value));
  for (const service of ctx.draft.services) {
    if (service.command !== undefined) {
      for (const s of secrets) service.command = service.command.split(s.value).join(`\${${s.name}}`);
    }
    for (const [key, value] of Object.entries(service.env)) {
      const s = holder(value);
      if (s === undefined) continue;
      delete service.env[key];
      ctx.findings.at(['services'], `services.${service.name}: \`${key}\` holds the value of secret ${s.name}: not written to slipway.yml; set it on the host`);
    }
    for (const [key, value] of Object.entries(service.build?.args ?? {})) {
      const s = holder(value);
      if (s !== undefined && service.build) delete service.build.args[key];
    }
  }
  for (const accessory of ctx.draft.accessories) {
    for (const [key, value] of Object.entries(accessory.env)) {
      const s = holder(value);
      if (s === undefined) continue;
      delete accessory.env[key];
      accessory.secrets.push(key);
      ctx.hostValues.set(key, value);
      ctx.findings.at(['services'], `accessories.${accessory.name}: \`${key}\` holds the value of secret ${s.name}, so it went to the host env file too (a password equal to a user name is weak: choose another)`);
    }
    if (accessory.command?.some((arg) => holder(arg) !== undefined)) {
      delete accessory.command;
      ctx.findings.at(['services'], `accessories.${accessory.name}: its command holds a secret's value: not written to slipway.yml; pass the setting through a variable the image reads`);
    }
  }
}

/** What is written must load, and hold none of the values that went to the env file: a failure here is a bug. */
function assertLoads(text: string, hostValues: { name: string; value: string }[]): void {
  const parsed = parseProjectText(text, 'slipway.yml');
  const leaked = hostValues.filter((v) => v.value.length >= GUARDED_SECRET_LENGTH && text.includes(v.value)).map((v) => v.name);
  if (parsed.problems.length === 0 && leaked.length === 0) return;
  throw new SlipwayError('COMPOSE_IMPORT_BUG', 'the slipway.yml made from the compose file is not right; nothing was written', {
    details: [...parsed.problems.map(formatProblem), ...leaked.map((name) => `it would hold the value of ${name}`)],
    hint: 'this is a bug in slipway: please report it with the compose file (without its secrets)',
  });
}
