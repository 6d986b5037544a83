import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadProject } from '../config/load.js';
import { buildRelease } from '../release/build.js';
import { readSigningKeyFile } from '../release/sign.js';
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
  const signingKey = keyPath ? { privateKeyPem: await readSigningKeyFile(keyPath) } : undefined;
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
