import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { detectPackageScripts, renderInitTemplate } from '../config/init-template.js';
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
  if (exists && !options.force) {
    throw new SlipwayError('INIT_EXISTS', `${file} already exists`, { exitCode: 2, hint: 'pass --force to overwrite it' });
  }
  const scripts = await detectPackageScripts(path.dirname(file));
  const app = sanitizeAppName(scripts.name ?? path.basename(path.dirname(file)));
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
  await fs.writeFile(file, text, { mode: 0o644, flag: options.force ? 'w' : 'wx' });
  return {
    stdout: [`wrote ${file}`, ...detected.map((l) => `  ${l}`), 'Read the comments in it, then run `slipway build`.'].join('\n'),
  };
}

function sanitizeAppName(raw: string): string {
  const name = raw.toLowerCase().replace(/^@[^/]+\//, '').replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return name.length > 0 ? name : 'app';
}
