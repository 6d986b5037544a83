/**
 * The slipway.yml text for a compose file's draft: the same commented layout `slipway init`
 * writes, with the services, accessories, databases and config keys filled in.
 */
import type { ProjectDraft } from './compose-draft.js';
import { renderEnvironments, scalar } from './init-template.js';
import { PIPELINE_STEPS } from './types.js';

function mapping(entries: Record<string, string>, indent: string): string {
  const keys = Object.keys(entries);
  if (keys.length === 0) return ' {}';
  return keys.map((key) => `\n${indent}${scalar(key)}: ${scalar(entries[key]!)}`).join('');
}

function flowList(items: readonly string[]): string {
  return `[${items.map((item) => scalar(item)).join(', ')}]`;
}

function renderServices(draft: ProjectDraft): string {
  return draft.services
    .map((s) => {
      const lines = [`  ${s.name}:`];
      if (s.build) {
        lines.push('    build:', `      context: ${scalar(s.build.context)}`);
        if (s.build.dockerfile !== undefined) lines.push(`      dockerfile: ${scalar(s.build.dockerfile)}`);
        if (s.build.target !== undefined) lines.push(`      target: ${scalar(s.build.target)}`);
        lines.push(`      args:${mapping(s.build.args, '        ')}`);
      } else {
        lines.push(`    image: ${scalar(s.image!)}`);
      }
      if (s.command !== undefined) lines.push(`    command: ${scalar(s.command)}   # run with sh -c in the container`);
      lines.push(`    port_env: ${s.portEnv}`, `    env:${mapping(s.env, '      ')}`);
      // The service the proxy fronts (web, else the first) keeps an HTTP check even when the compose file had none.
      const fronted = s === (draft.services.find((x) => x.name === 'web') ?? draft.services[0]);
      if (s.health.http === false && !fronted) return [...lines, '    health: false   # no HTTP check: healthy once it keeps running'].join('\n');
      lines.push('    health:', `      path: ${scalar(s.health.path)}`);
      if (s.health.timeout !== undefined) lines.push(`      timeout: ${s.health.timeout}`);
      if (s.health.deadline !== undefined) lines.push(`      deadline: ${s.health.deadline}`);
      return lines.join('\n');
    })
    .join('\n');
}

function renderAccessories(draft: ProjectDraft): string {
  if (draft.accessories.length === 0) return 'accessories: {}\n';
  const body = draft.accessories
    .map((a) => {
      const lines = [`  ${a.name}:`, `    image: ${scalar(a.image)}`, `    volumes: ${flowList(a.volumes)}`, `    env:${mapping(a.env, '      ')}`];
      lines.push(`    secrets: ${flowList(a.secrets)}${a.secrets.length > 0 ? '   # values in the host env file' : ''}`);
      if (a.port !== undefined) lines.push(`    port: ${a.port}`);
      if (a.command !== undefined) {
        if (a.commandWhy !== undefined) lines.push(`    # ${a.commandWhy}`);
        lines.push(`    command: ${flowList(a.command)}`);
      }
      return lines.join('\n');
    })
    .join('\n');
  return `accessories:\n${body}\n`;
}

function renderData(draft: ProjectDraft): string {
  const databases =
    draft.databases.length === 0
      ? '  databases: {}'
      : `  databases:\n${draft.databases.map((d) => `    ${d.name}: { engine: ${d.engine}, url_env: ${d.urlEnv}, accessory: ${d.accessory} }`).join('\n')}`;
  const folders = draft.folders.length === 0 ? '  folders: []' : `  folders:\n${draft.folders.map((f) => `    - ${scalar(f)}`).join('\n')}`;
  return `data:\n${databases}\n${folders}\n`;
}

function renderConfig(draft: ProjectDraft): string {
  if (draft.config.length === 0) return 'config: {}\n';
  const lines = draft.config.map((k) => {
    const fields = [`required: ${k.required}`, `secret: ${k.secret}`];
    if (k.description !== undefined) fields.push(`description: ${JSON.stringify(k.description)}`);
    return `  ${k.name}: { ${fields.join(', ')} }`;
  });
  return `config:\n${lines.join('\n')}\n`;
}

export function renderComposeProject(draft: ProjectDraft): string {
  const migrate =
    draft.migrate === undefined
      ? `# Schema migrations, run once per update in a one-off container of the new release's
# image while writes are held. Uncomment when the app has a migration command:
# migrate:
#   command: python manage.py migrate
#   reversible: false   # true when the previous release still works with the migrated data
#   timeout: 10m
`
      : `# Schema migrations, run once per update in a one-off container of the new release's
# image while writes are held. The update takes a verified backup first.
migrate:
  command: ${scalar(draft.migrate)}
  reversible: false   # true when the previous release still works with the migrated data
  timeout: 10m
`;
  return `# slipway.yml: how slipway builds, deploys, backs up and rolls back ${draft.app}.
# Written by \`slipway init --from-compose ${draft.composeFile}\`: read the findings it
# printed, then this file. Secrets never go in this file: they are in the host env file.

app: ${scalar(draft.app)}

# The app's services, each run as a container from the release's image with host
# networking: it must listen on 127.0.0.1 at the port in its port_env variable, and
# answer GET health.path with a 2xx before it gets traffic.
services:
${renderServices(draft)}

# Long-lived containers beside the app (databases, caches): never restarted or
# upgraded by a deploy. Each listens on 127.0.0.1 at its port.
${renderAccessories(draft)}
# Container services are built from their Dockerfile; commands here run before, in
# the clean export of the commit.
build:
  commands: []
  include: []
  exclude:
    - ".git/**"

# Data that outlives releases, backed up (and verified) before every update.
# Folders are relative to the host's shared/ folder.
${renderData(draft)}
${migrate}
# Commands run before or after a step of the update: before_<step> or after_<step>,
# where step is one of:
#   ${PIPELINE_STEPS.join(', ')}
hooks: {}

# Settings the app reads from its environment; an update stops before changing
# anything when a required one is missing on the host. Values are in the host env
# file (\`slipway config production show\`), never here.
${renderConfig(draft)}
${renderEnvironments({ name: 'production', port: draft.port })}`;
}
