import { loadProject } from '../config/load.js';
import { readReleaseManifest, resolveRelease } from '../store/releases.js';
import { openCliStore } from './store-option.js';
import { formatBytes } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { printable } from '../util/terminal-text.js';
import { filesBytes } from '../release/manifest-size.js';

interface ReleaseShowOptions {
  args: string[];
  store?: string;
  json?: boolean;
  config?: string;
}

export default async function releaseShow(options: ReleaseShowOptions, ctx: CliContext): Promise<CommandResult> {
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  const store = openCliStore(options.store, ctx);
  const info = await resolveRelease(store, project.config.app, options.args[0]!);
  const manifest = await readReleaseManifest(store, project.config.app, info.id);
  if (options.json) return jsonOutput({ ...info, manifest });
  const total = filesBytes(manifest.files);
  const lines = [
    `${printable(manifest.app)} ${printable(manifest.version)}${manifest.dirty ? ' (built from a dirty work tree)' : ''}`,
    `  id         ${info.id}`,
    `  commit     ${printable(manifest.commit)}`,
    `  date       ${printable(manifest.date)}`,
    `  message    ${printable(manifest.message.split('\n')[0] ?? '')}`,
    `  created    ${info.createdAt}`,
    `  files      ${manifest.files.length} (${formatBytes(total)} unpacked, ${formatBytes(info.size)} archive)`,
    `  signed     ${info.signed ? 'yes' : 'no'}`,
    `  migrates   ${manifest.migrates ? 'yes' : 'no'}`,
    `  config     ${manifest.requiredConfig.length > 0 ? printable(manifest.requiredConfig.join(', ')) : '(no required keys)'}`,
  ];
  if (manifest.notes.trim()) lines.push('', 'Release notes:', ...manifest.notes.trim().split('\n').map((l) => `  ${printable(l)}`));
  return { stdout: lines.join('\n') };
}
