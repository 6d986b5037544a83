import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../errors.js';
import { loadProject } from '../config/load.js';
import { buildRelease } from '../release/build.js';
import { shortId } from '../release/manifest.js';
import { putRelease } from '../store/releases.js';
import { openCliStore } from './store-option.js';
import { formatBytes } from './format.js';
import type { CliContext, CommandResult } from './context.js';

interface BuildOptions {
  ref: string;
  version?: string;
  allowDirty?: boolean;
  store?: string;
  key?: string;
  json?: boolean;
  config?: string;
}

export default async function build(options: BuildOptions, ctx: CliContext): Promise<CommandResult> {
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  for (const warning of project.warnings) ctx.progress(`warning: ${warning}`);
  const keyPath = options.key ? path.resolve(ctx.cwd, options.key) : project.config.signing.key ? path.resolve(project.dir, project.config.signing.key) : undefined;
  const signingKey = keyPath ? { privateKeyPem: await readPrivateKey(keyPath) } : undefined;
  const store = openCliStore(options.store, ctx);

  const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slipway-build-'));
  try {
    ctx.progress(`building ${project.config.app} at ${options.ref}`);
    const built = await buildRelease({
      project,
      ref: options.ref,
      version: options.version,
      allowDirty: options.allowDirty,
      outDir,
      signingKey,
      onOutput: (line) => ctx.progress(`  | ${line}`),
    });
    const info = await putRelease(store, {
      app: project.config.app,
      id: built.id,
      manifestPath: built.manifestPath,
      archivePath: built.archivePath,
      signaturePath: built.signaturePath,
    });
    const result = { id: built.id, version: built.manifest.version, commit: built.manifest.commit };
    if (options.json) return { stdout: `${JSON.stringify(result, null, 2)}\n` };
    return {
      stdout: [
        `built ${project.config.app} ${result.version} (${shortId(result.id)})`,
        `  commit   ${result.commit}`,
        `  files    ${built.manifest.files.length}, archive ${formatBytes(info.size)}`,
        `  signed   ${info.signed ? 'yes' : 'no'}`,
        `  store    ${store.description}`,
        `  id       ${result.id}`,
      ].join('\n'),
    };
  } finally {
    await fs.rm(outDir, { recursive: true, force: true });
  }
}

async function readPrivateKey(file: string): Promise<string> {
  try {
    const stat = await fs.stat(file);
    if ((stat.mode & 0o077) !== 0) {
      throw new SlipwayError('KEY_PERMISSIONS', `the signing key ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)})`, {
        exitCode: 2,
        hint: `run \`chmod 600 ${file}\``,
      });
    }
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof SlipwayError) throw error;
    throw new SlipwayError('KEY_NOT_FOUND', `cannot read the signing key ${file}`, {
      exitCode: 2,
      cause: error,
      hint: 'make one with `slipway keys generate`, or fix signing.key in slipway.yml',
    });
  }
}
