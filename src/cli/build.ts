import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadProject } from '../config/load.js';
import { buildRelease } from '../release/build.js';
import { readSigningKeyFile } from '../release/sign.js';
import { describeBuilt, storeBuiltRelease } from './built-release.js';
import { openCliStore } from './store-option.js';
import { phaseProgress } from './progress.js';
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
      onHashProgress: phaseProgress(ctx, 'hashing', 'files'),
    });
    const stored = await storeBuiltRelease(ctx, store, project.config.app, built);
    const result = { id: built.id, version: built.manifest.version, commit: built.manifest.commit };
    if (options.json) return { stdout: `${JSON.stringify(result, null, 2)}\n` };
    return { stdout: describeBuilt(built, stored, store).join('\n') };
  } finally {
    await fs.rm(outDir, { recursive: true, force: true });
  }
}
