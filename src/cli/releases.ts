import { listReleases } from '../store/releases.js';
import { loadProject } from '../config/load.js';
import { shortId } from '../release/manifest.js';
import { openCliStore } from './store-option.js';
import { formatBytes, formatTable } from '../util/format.js';
import { jsonOutput, type CliContext, type CommandResult } from './context.js';
import { printable } from '../util/terminal-text.js';

interface ReleasesOptions {
  store?: string;
  json?: boolean;
  config?: string;
}

export default async function releases(options: ReleasesOptions, ctx: CliContext): Promise<CommandResult> {
  const project = await loadProject({ file: options.config, cwd: ctx.cwd });
  const store = openCliStore(options.store, ctx);
  const list = await listReleases(store, project.config.app);
  if (options.json) {
    return jsonOutput(list.map(({ id, version, commit, createdAt, size, signed }) => ({ id, version, commit, createdAt, size, signed })));
  }
  if (list.length === 0) return { stdout: `no releases of ${project.config.app} in ${store.description} yet; run \`slipway build\`` };
  const rows = list.map((r) => [printable(r.version), shortId(r.id), printable(r.commit.slice(0, 7)), r.createdAt.replace('T', ' ').slice(0, 19), formatBytes(r.size), r.signed ? 'yes' : 'no']);
  return { stdout: formatTable(['VERSION', 'ID', 'COMMIT', 'CREATED (UTC)', 'SIZE', 'SIGNED'], rows) };
}
