import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { detectPackageScripts, renderInitTemplate, toAppName } from '../config/init-template.js';
import { formatFinding, importComposeFile } from '../config/compose-import.js';
import { readEnvFile } from '../host/app-env.js';
import { defaultHostRoot, hostLayout } from '../host/layout.js';
import { assertConfigValue, setEnvFileValue } from '../plan/app-config.js';
import { confirmOrRefuse } from './prompt.js';
import type { CliContext, CommandResult } from './context.js';

interface InitOptions {
  yes?: boolean;
  force?: boolean;
  config?: string;
  /** --from-compose <compose.yml> */
  fromCompose?: string;
}

export default async function init(options: InitOptions, ctx: CliContext): Promise<CommandResult> {
  const file = path.resolve(ctx.cwd, options.config ?? 'slipway.yml');
  const exists = await fs.stat(file).then(() => true, () => false);
  if (exists && !options.force) throw alreadyExists(file);
  if (options.fromCompose !== undefined) return initFromCompose({ file, composeFile: options.fromCompose, yes: options.yes, force: options.force }, ctx);
  const scripts = await detectPackageScripts(path.dirname(file));
  const app = toAppName(scripts.name ?? path.basename(path.dirname(file)));
  const text = renderInitTemplate({
    app,
    startCommand: scripts.start ?? 'npm start',
    buildCommands: scripts.build ? [scripts.build] : [],
    migrateCommand: scripts.migrate,
    port: 8080,
  });
  const detected = [
    `app: ${app}`,
    `service web: ${scripts.start ?? 'npm start (no start script found in package.json)'}`,
    scripts.build ? `build: ${scripts.build}` : 'build: none',
    scripts.migrate ? `migrate: ${scripts.migrate}` : 'migrate: none',
  ];
  if (!options.yes) {
    for (const line of detected) ctx.progress(`  ${line}`);
    const go = await confirmOrRefuse(ctx, { yes: options.yes, question: `Write ${file}?`, what: 'slipway init' });
    if (!go) return { stdout: 'nothing written', exitCode: 1 };
  }
  await writeProjectFile(file, text, Boolean(options.force));
  return {
    stdout: [`wrote ${file}`, ...detected.map((l) => `  ${l}`), 'Read the comments in it, then run `slipway build`.'].join('\n'),
  };
}

/**
 * `init --from-compose`: slipway.yml from the compose file, and its secrets into the host env
 * file of the environment it writes (production, on this machine), created 0600 by the same
 * code as `slipway config set`. Values are never printed: only how many, and their names.
 */
async function initFromCompose(o: { file: string; composeFile: string; yes?: boolean; force?: boolean }, ctx: CliContext): Promise<CommandResult> {
  const composeFile = path.resolve(ctx.cwd, o.composeFile);
  const shownName = shownPath(composeFile, ctx.cwd);
  const imported = await importComposeFile({ file: composeFile, shownName, projectDir: path.dirname(o.file) });
  // a value that cannot be one line of the env file is refused before anything is written
  for (const { name, value } of imported.hostValues) assertConfigValue(name, value);
  const envFile = hostLayout(defaultHostRoot(imported.app, 'production')).envFile;
  const existing = await readEnvFile(envFile);
  const report = [
    `mapped from ${shownName}:`,
    ...imported.mapped.map((line) => `  ${line}`),
    imported.findings.length === 0 ? 'findings: none' : `findings (${imported.findings.length}), what slipway.yml does not say the same way:`,
    ...imported.findings.map((finding) => `  ${formatFinding(finding)}`),
  ];
  if (!o.yes) {
    for (const line of report) ctx.progress(line);
    const go = await confirmOrRefuse(ctx, { yes: o.yes, question: `Write ${o.file} and ${imported.hostValues.length} secret(s) to ${envFile}?`, what: 'slipway init --from-compose' });
    if (!go) return { stdout: 'nothing written', exitCode: 1 };
  }
  await writeProjectFile(o.file, imported.text, Boolean(o.force));
  const written: string[] = [];
  const kept: string[] = [];
  for (const { name, value } of imported.hostValues) {
    // the host's own value wins: it may be the one production runs with today
    if (existing[name] !== undefined && existing[name] !== value) kept.push(name);
    else {
      await setEnvFileValue(envFile, name, value);
      written.push(name);
    }
  }
  const secrets =
    written.length === 0
      ? []
      : [`wrote ${written.length} secret${written.length === 1 ? '' : 's'} to ${envFile} (mode 600, values not shown): ${written.join(', ')}`];
  if (kept.length > 0) secrets.push(`kept the host's own value of ${kept.join(', ')} in ${envFile} (the compose file has another)`);
  return {
    stdout: [
      `wrote ${o.file}`,
      // asked first: the report is on the screen already
      ...(o.yes ? report : []),
      ...secrets,
      'Read the findings and slipway.yml, then run `slipway build` and `slipway deploy production`.',
    ].join('\n'),
  };
}

/** Relative to cwd when inside it, absolute otherwise. */
function shownPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

function alreadyExists(file: string): SlipwayError {
  return new SlipwayError('INIT_EXISTS', `${file} already exists`, { exitCode: 2, hint: 'pass --force to overwrite it' });
}

async function writeProjectFile(file: string, text: string, force: boolean): Promise<void> {
  try {
    await fs.writeFile(file, text, { mode: 0o644, flag: force ? 'w' : 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // written by someone else since the check above
    if (code === 'EEXIST') throw alreadyExists(file);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new SlipwayError('INIT_NO_FOLDER', `cannot write ${file}: the folder ${path.dirname(file)} does not exist`, {
        exitCode: 2,
        cause: error,
        hint: 'create the folder first, or pass --config with a path in an existing folder',
      });
    }
    throw new SlipwayError('INIT_WRITE_FAILED', `cannot write ${file}: ${(error as Error).message}`, {
      cause: error,
      hint: 'check that the folder is writable by you',
    });
  }
}
