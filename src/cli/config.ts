import { registerSecret, usageError } from '../errors.js';
import { readEnvFile } from '../host/app-env.js';
import { assertConfigKey, describeAppConfig, setEnvFileValue, unsetEnvFileValue, type EnvFileEdit } from '../plan/app-config.js';
import { readCurrentRelease } from '../plan/gather.js';
import type { PlannedRelease } from '../plan/plan.js';
import { shortId } from '../release/manifest.js';
import { openStore } from '../store/open-store.js';
import { listReleases, readReleaseManifest, resolveRelease } from '../store/releases.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { openEnvironment, type OpenedEnvironment } from './environment.js';
import { formatTable } from '../util/format.js';
import { setAssignment } from './read-value.js';

interface ConfigOptions {
  /** [env, action, argument] */
  args: string[];
  version?: string;
  json?: boolean;
  config?: string;
}

const ACTIONS = ['show', 'set', 'unset'] as const;

/**
 * `slipway config <env> [show|set KEY=VALUE|set KEY|unset KEY]`: the config a release runs
 * with, and edits of the host's env file (shared/.env, mode 0600). `set KEY` (or `KEY=-`)
 * reads the value from stdin, so that a secret is in neither argv nor the shell's history.
 */
export default async function config(options: ConfigOptions, ctx: CliContext): Promise<CommandResult> {
  const [envName, action = 'show', argument] = options.args;
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw usageError('CONFIG_ACTION_UNKNOWN', `unknown config action "${action}"`, { hint: 'one of: show, set KEY=VALUE, set KEY (the value on stdin), unset KEY' });
  }
  const opened = await openEnvironment({ config: options.config, env: envName }, ctx);
  if (action === 'show') return show(opened, options, ctx);
  if (argument === undefined) {
    throw usageError('CONFIG_ARGUMENT_MISSING', action === 'set' ? 'config set needs KEY=VALUE, or KEY to read the value from stdin' : 'config unset needs a KEY', {
      hint:
        action === 'set'
          ? `e.g. \`slipway config ${opened.environment.name} set NOTES_TITLE="My notes"\`; for a secret, \`slipway config ${opened.environment.name} set API_TOKEN\` and type it, or pipe it in`
          : `e.g. \`slipway config ${opened.environment.name} unset NOTES_TITLE\``,
    });
  }
  if (options.args.length > 3) {
    throw usageError('CONFIG_TOO_MANY_ARGUMENTS', `config ${action} takes one ${action === 'set' ? 'KEY=VALUE' : 'KEY'}`, {
      hint: 'quote a value with spaces: NOTES_TITLE="My notes"',
    });
  }
  // Before anything slow: a value typed or piped in is read first.
  const assignment = action === 'set' ? await setAssignment(argument, ctx) : null;
  const schemas = await knownSchemas(opened, options.version);
  const file = opened.layout.envFile;
  let key: string;
  let edit: EnvFileEdit;
  if (assignment) {
    key = assignment.key;
    const declared = schemas.flatMap((s) => s.release.runtime.config).find((k) => k.name === key);
    // Never echo a value: it may be a secret, declared as such or not (one given on stdin is taken for one).
    if (declared?.secret || assignment.fromStdin) registerSecret(assignment.value);
    edit = await setEnvFileValue(file, key, assignment.value);
  } else {
    assertConfigKey(argument);
    key = argument;
    edit = await unsetEnvFileValue(file, key);
  }
  const declaredBy = schemas.filter((s) => s.release.runtime.config.some((k) => k.name === key));
  const accessoryUsers = opened.project.config.accessories.filter((a) => a.secrets.includes(key)).map((a) => a.name);
  if (accessoryUsers.length > 0 && action === 'set') {
    ctx.progress(`${key} is read by accessory ${accessoryUsers.join(', ')} when its container is created (\`slipway accessory start ${opened.environment.name}\`)`);
  } else if (declaredBy.length === 0 && action === 'set') {
    const checked = schemas.map((s) => `${s.release.version} (${s.role})`);
    ctx.progress(
      checked.length === 0
        ? `warning: no release to check ${key} against: nothing deployed and the store is empty`
        : `warning: ${key} is declared by ${checked.length === 1 ? checked[0] : `neither ${checked.join(' nor ')}`}${checked.length === 1 ? ' not' : ''}; the app may not read it (check the spelling)`,
    );
  }
  if (edit.fixedMode !== null) ctx.progress(`note: ${file} was mode ${edit.fixedMode.toString(8)}; it is now 600 (it holds secrets)`);
  if (options.json) {
    return jsonOutput({ environment: opened.environment.name, action, key, file, changed: edit.changed, created: edit.created, declared: declaredBy.length > 0 });
  }
  const what =
    action === 'set'
      ? edit.changed
        ? `set ${key} in ${file}`
        : `${key} already had that value in ${file}`
      : edit.changed
        ? `removed ${key} from ${file}`
        : `${key} was not set in ${file}`;
  return { stdout: edit.changed ? `${what}\nit takes effect when a release next starts (the next deploy, or an agent restart)` : what };
}

interface SchemaSource {
  role: 'current' | 'newest in the store' | 'asked for';
  release: PlannedRelease;
}

/** The schemas a key is checked against: the current release's, and the newest release's in the store (or --version's). */
async function knownSchemas(opened: OpenedEnvironment, version: string | undefined): Promise<SchemaSource[]> {
  const out: SchemaSource[] = [];
  const current = await readCurrentRelease(opened.layout);
  if (current) out.push({ role: 'current', release: current });
  const store = await openStore(opened.environment.store, opened.project.dir);
  const app = opened.project.config.app;
  const info = version ? await resolveRelease(store, app, version) : (await listReleases(store, app)).at(-1);
  if (info && info.id !== current?.id) {
    out.push({ role: version ? 'asked for' : 'newest in the store', release: { ...(await readReleaseManifest(store, app, info.id)), id: info.id } });
  }
  return out;
}

async function show(opened: OpenedEnvironment, options: ConfigOptions, ctx: CliContext): Promise<CommandResult> {
  const schemas = await knownSchemas(opened, options.version);
  // The current release unless --version names another; before any deploy, the newest in the store.
  const source = options.version ? schemas.find((s) => s.role === 'asked for') ?? schemas[0] : schemas[0];
  const envFile = await readEnvFile(opened.layout.envFile);
  const view = describeAppConfig({ schema: source?.release.runtime.config ?? [], envFile, processEnv: ctx.env });
  const release = source ? { id: source.release.id, version: source.release.version, role: source.role } : null;
  if (options.json) {
    return jsonOutput({ environment: opened.environment.name, release, envFile: opened.layout.envFile, keys: view.entries, undeclared: view.undeclared, missing: view.missing });
  }
  const lines = [
    source
      ? `config of ${opened.project.config.app} ${opened.environment.name} as ${source.release.version} (${shortId(source.release.id)}, ${source.role}) reads it`
      : `config of ${opened.project.config.app} ${opened.environment.name}: no release deployed or in the store, so no schema`,
    `env file: ${opened.layout.envFile}`,
    '',
  ];
  if (view.entries.length === 0) lines.push('the release declares no config keys');
  else {
    lines.push(
      formatTable(
        ['KEY', 'VALUE', 'SOURCE', ''],
        view.entries.map((e) => [
          e.name,
          e.value ?? '-',
          e.source === 'missing' ? (e.required ? 'MISSING' : '-') : e.source,
          [e.required ? 'required' : '', e.secret ? 'secret' : '', e.description ?? ''].filter(Boolean).join(', '),
        ]),
      ),
    );
  }
  if (view.undeclared.length > 0) lines.push('', `in the env file, not in the schema (values not shown): ${view.undeclared.join(', ')}`);
  if (view.missing.length > 0) {
    lines.push('', `missing required keys: ${view.missing.join(', ')} — set them with \`slipway config ${opened.environment.name} set KEY=VALUE\``);
  }
  if (view.entries.some((e) => e.source === 'environment')) {
    lines.push('', "values from 'environment' are this shell's; the agent uses the environment it was started with");
  }
  return { stdout: lines.join('\n') };
}
