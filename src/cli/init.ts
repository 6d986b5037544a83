import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { detectPackageScripts, renderInitTemplate, toAppName } from '../config/init-template.js';
import { confirmOrRefuse } from './prompt.js';
import type { CliContext, CommandResult } from './context.js';

interface InitOptions {
  yes?: boolean;
  force?: boolean;
  config?: string;
}

export default async function init(options: InitOptions, ctx: CliContext): Promise<CommandResult> {
  const file = path.resolve(ctx.cwd, options.config ?? 'slipway.yml');
  const exists = await fs.stat(file).then(() => true, () => false);
  if (exists && !options.force) throw alreadyExists(file);
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
